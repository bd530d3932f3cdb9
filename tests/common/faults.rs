//! Fault injection at points the run announces (`oci::faults`, debug builds): a census run
//! lists the points a job passes; a later run of the same job is stopped at one of them and
//! killed there, so every kill lands mid-way whatever the machine's speed.

use std::path::Path;
use std::process::{Child, Stdio};

/// The pause points one run of `args` passes, in the order they were passed (the run must
/// succeed). `scratch` is a directory of the test's own.
pub fn pause_points(args: &[String], scratch: &Path) -> Vec<String> {
    let log = scratch.join("pause-points.log");
    let _ = std::fs::remove_file(&log);
    let out = super::encap_command()
        .args(args)
        .env(oci::faults::LOG_ENV, &log)
        .stdin(Stdio::null())
        .output()
        .expect("running ostree-encap");
    assert!(
        out.status.success(),
        "census run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let points: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        !points.is_empty(),
        "the run passed no pause point: {args:?}"
    );
    points
}

/// A run stopped at its `k`-th pause point (from 1).
pub struct Paused {
    pub child: Child,
    /// The point it stopped at, as the run named it.
    pub point: String,
}

impl Paused {
    /// SIGKILL the stopped run and reap it.
    pub fn kill(mut self) -> String {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
        std::mem::take(&mut self.point)
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `args` and wait until it stops at its `k`-th pause point. Panics if the run ends
/// before that (then `k` was past its last point: the census and this run differ).
pub fn pause_at(args: &[String], k: usize, scratch: &Path) -> Paused {
    pause_at_with(args, k, scratch, &[])
}

/// [`pause_at`] with more environment variables for the run.
pub fn pause_at_with(
    args: &[String],
    k: usize,
    scratch: &Path,
    env: &[(&str, &std::ffi::OsStr)],
) -> Paused {
    let ready = scratch.join(format!("paused-{k}"));
    let _ = std::fs::remove_file(&ready);
    let child = super::encap_command()
        .args(args)
        .envs(env.iter().copied())
        .env(oci::faults::PAUSE_AT_ENV, k.to_string())
        .env(oci::faults::READY_ENV, &ready)
        // What it passed, for the message if it ends before its point.
        .env(oci::faults::LOG_ENV, scratch.join(format!("run-{k}.log")))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(scratch.join(format!("run-{k}.err"))).expect("stderr file"))
        .spawn()
        .expect("running ostree-encap");
    let mut p = Paused {
        child,
        point: String::new(),
    };
    // Not a speed limit: the run either stops at its point or ends; this only ends a test
    // whose run hangs somewhere else.
    let hang_guard = std::time::Instant::now() + std::time::Duration::from_secs(900);
    loop {
        if let Ok(s) = std::fs::read_to_string(&ready) {
            if s.ends_with('\n') {
                p.point = s.trim_end().to_string();
                return p;
            }
        }
        if let Some(status) = p.child.try_wait().expect("waiting for ostree-encap") {
            let passed = std::fs::read_to_string(scratch.join(format!("run-{k}.log")));
            let err = std::fs::read_to_string(scratch.join(format!("run-{k}.err")));
            panic!(
                "the run ended ({status}) before its pause point {k}: {args:?}; it passed {:?}; \
                 stderr: {}",
                passed.unwrap_or_default().lines().collect::<Vec<_>>(),
                err.unwrap_or_default()
            );
        }
        assert!(
            std::time::Instant::now() < hang_guard,
            "run hangs: {args:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
