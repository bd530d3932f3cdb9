//! Progress on stderr while layers are written: one line, redrawn at most five times a
//! second, only when stderr is a terminal (and neither `--quiet` nor `--json`).

use ostree_encap::Progress;
use std::io::Write;

pub(crate) struct TermProgress {
    pub(crate) on: bool,
    pub(crate) layers: usize,
    pub(crate) layers_done: usize,
    pub(crate) objects: usize,
    pub(crate) done: usize,
    pub(crate) bytes_total: u64,
    pub(crate) bytes: u64,
    pub(crate) start: std::time::Instant,
    pub(crate) last: Option<std::time::Instant>,
    /// `--timings`: print each phase's wall time on stderr.
    pub(crate) timings: bool,
}

impl TermProgress {
    fn draw(&mut self, force: bool) {
        if !self.on {
            return;
        }
        let now = std::time::Instant::now();
        if !force
            && self
                .last
                .is_some_and(|l| now.duration_since(l).as_millis() < 200)
        {
            return;
        }
        self.last = Some(now);
        let secs = now.duration_since(self.start).as_secs_f64().max(0.001);
        eprint!(
            "\r\x1b[Klayers {}/{}  objects {}/{}  {:.0}/{:.0} MiB  {:.1} MiB/s",
            self.layers_done,
            self.layers,
            self.done,
            self.objects,
            self.bytes as f64 / 1048576.0,
            self.bytes_total as f64 / 1048576.0,
            self.bytes as f64 / 1048576.0 / secs
        );
        let _ = std::io::stderr().flush();
    }
}

impl Progress for TermProgress {
    fn started(&mut self, layers: usize, objects: usize, bytes: u64) {
        (self.layers, self.objects, self.bytes_total) = (layers, objects, bytes);
        self.start = std::time::Instant::now();
        self.draw(true);
    }
    fn object_written(&mut self, bytes: u64) {
        self.done += 1;
        self.bytes += bytes;
        self.draw(false);
    }
    fn warning(&mut self, message: &str) {
        if self.on {
            eprint!("\r\x1b[K");
        }
        eprintln!("warning: {message}");
        self.draw(true);
    }
    fn phase(&mut self, name: &str, seconds: f64) {
        if self.timings {
            if self.on {
                eprint!("\r\x1b[K");
            }
            // The peak so far tells which phase makes the run's peak memory.
            let peak = peak_rss_kib().map_or(String::new(), |k| {
                format!("  peak {:.1} MiB", k as f64 / 1024.0)
            });
            eprintln!("time {name:<12} {seconds:8.3} s{peak}");
        }
    }
    fn layer_finished(&mut self, _index: usize) {
        self.layers_done += 1;
        self.draw(true);
        if self.on && self.layers_done == self.layers {
            eprintln!();
        }
    }
}

/// The process's peak resident memory so far (`VmHWM`), in KiB, where /proc has it.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
