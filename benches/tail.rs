//! Throughput of replay (`read_file`) and of the live tailer on one large file.
//! A benchmark, not a test: `cargo bench --bench tail` (prints GB/s and lines/s, and checks
//! that every byte and line arrived).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use logpulse::source::{read_file, FileInfo, StartAt, TailEvent, TailOptions, TailSink, Tailer};

struct Count {
    bytes: Arc<AtomicU64>,
    lines: u64,
}

impl TailSink for Count {
    fn batch(&mut self, _: &FileInfo, _: u64, data: &[u8]) {
        self.lines += memchr::memchr_iter(b'\n', data).count() as u64;
        self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
    }
    fn event(&mut self, _: TailEvent) {}
}

fn thread_cpu() -> Duration {
    // SAFETY: ru is a valid rusage to fill.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    Duration::from_secs((ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) as u64)
        + Duration::from_micros((ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) as u64)
}

fn main() {
    let d = tempfile::tempdir().expect("tempdir");
    let path = d.path().join("access.log");
    let mut w = BufWriter::new(File::create(&path).expect("create"));
    let n = 2_000_000u64;
    for i in 0..n {
        writeln!(
            w,
            "10.0.{}.{} - - [25/Nov/2026:11:00:00 +0000] \"GET /api/v1/items/{i} HTTP/1.1\" 200 {} \"-\" \"Mozilla/5.0\"",
            i % 256,
            i % 199,
            i % 5000
        )
        .expect("write");
    }
    w.flush().expect("flush");
    drop(w);
    let size = std::fs::metadata(&path).expect("stat").len();

    let bytes = Arc::new(AtomicU64::new(0));
    let mut sink = Count {
        bytes: bytes.clone(),
        lines: 0,
    };
    let t = Instant::now();
    let c = thread_cpu();
    let got = read_file(&path, 64 * 1024, &mut sink).expect("replay");
    let (wall, cpu) = (t.elapsed(), thread_cpu() - c);
    assert_eq!(got, size);
    assert_eq!(sink.lines, n);
    println!(
        "replay: {} MB, {n} lines in {wall:?} wall, {cpu:?} CPU: {:.0} MB/s, {:.2} CPU s per million lines",
        size / 1_000_000,
        size as f64 / 1e6 / wall.as_secs_f64(),
        cpu.as_secs_f64() / (n as f64 / 1e6)
    );

    let opts = TailOptions {
        source: "bench".into(),
        paths: vec![path.display().to_string()],
        exclude: vec![],
        start_at: StartAt::Beginning,
        poll_interval: Duration::from_secs(1),
        force_poll: false,
        max_line_bytes: 64 * 1024,
        partial_flush: None,
        rotate_wait: Duration::from_secs(1),
    };
    let mut tailer = Tailer::new(opts, vec![]).expect("tailer");
    let stopper = tailer.stopper();
    let live = Arc::new(AtomicU64::new(0));
    let live2 = live.clone();
    let t = Instant::now();
    let h = thread::spawn(move || {
        let mut sink = Count {
            bytes: live2,
            lines: 0,
        };
        tailer.run(&mut sink);
        (thread_cpu(), sink.lines)
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while live.load(Ordering::Relaxed) < size && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(1));
    }
    let wall = t.elapsed();
    stopper.stop();
    let (cpu, lines) = h.join().expect("join");
    assert_eq!(lines, n);
    println!(
        "tailer: {} MB in {wall:?} wall, {cpu:?} CPU: {:.0} MB/s",
        size / 1_000_000,
        size as f64 / 1e6 / wall.as_secs_f64()
    );
}
