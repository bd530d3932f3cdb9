//! Try zstd parameter sets on a file the way layers are compressed (multithreaded, checksum),
//! printing output size and wall time: `zstd_params FILE LEVEL [WORKERS] [wlog=N,hlog=N,...]`.
use std::io::{Read, Write};
use std::time::Instant;
use zstd::zstd_safe::CParameter;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (file, level) = (&args[1], args[2].parse::<i32>()?);
    let workers = args
        .get(3)
        .map(|s| s.parse::<u32>())
        .transpose()?
        .unwrap_or(2);
    let mut data = Vec::new();
    std::fs::File::open(file)?.read_to_end(&mut data)?;
    let mut count = Counter(0);
    let t = Instant::now();
    {
        let mut z = zstd::stream::write::Encoder::new(&mut count, level)?;
        z.include_checksum(true)?;
        z.multithread(workers)?;
        for kv in args
            .get(4)
            .map(String::as_str)
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
        {
            let (k, v) = kv.split_once('=').ok_or("k=v")?;
            let v: u32 = v.parse()?;
            let p = match k {
                "wlog" => CParameter::WindowLog(v),
                "hlog" => CParameter::HashLog(v),
                "clog" => CParameter::ChainLog(v),
                "slog" => CParameter::SearchLog(v),
                "mml" => CParameter::MinMatch(v),
                "tlen" => CParameter::TargetLength(v),
                "job" => CParameter::JobSize(v),
                "ovlog" => CParameter::OverlapSizeLog(v),
                "ldm" => CParameter::EnableLongDistanceMatching(v != 0),
                "strat" => CParameter::Strategy(match v {
                    1 => zstd::zstd_safe::Strategy::ZSTD_fast,
                    2 => zstd::zstd_safe::Strategy::ZSTD_dfast,
                    _ => zstd::zstd_safe::Strategy::ZSTD_greedy,
                }),
                _ => return Err(format!("unknown {k}").into()),
            };
            z.set_parameter(p)?;
        }
        for c in data.chunks(256 * 1024) {
            z.write_all(c)?;
        }
        z.finish()?;
    }
    println!("{} bytes in {:.2} s", count.0, t.elapsed().as_secs_f64());
    Ok(())
}

struct Counter(u64);
impl Write for Counter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
