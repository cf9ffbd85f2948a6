//! The `spillway` command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};
use spillway::build::{self, RunOptions};
use spillway::config::JobFile;
use spillway::report;
use spillway::{Error, ErrorKind};

/// Kafka streams into files, exactly once.
#[derive(Parser, Debug)]
#[command(name = "spillway", version, about, long_about = None)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a job until its source ends or SIGTERM/Ctrl-C (a final checkpoint publishes
    /// everything; a second signal exits at once).
    Run {
        /// The job file.
        job: PathBuf,
        /// This process's index among the job's workers.
        #[arg(long, default_value_t = 0)]
        worker: usize,
        /// Worker processes of the job (Kafka partitions are split among them).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// No progress bar.
        #[arg(long)]
        no_progress: bool,
        /// Serve /metrics (Prometheus), /healthz, /readyz and a status page on this address
        /// (for example 127.0.0.1:9249). Off unless given.
        #[arg(long, value_name = "ADDR")]
        http: Option<std::net::SocketAddr>,
        /// With --http: keep serving the final figures this long after the job ends (for example
        /// "30s"), so a last scrape sees them; SIGTERM ends it early.
        #[arg(long, value_name = "DURATION", value_parser = duration, requires = "http")]
        http_linger: Option<std::time::Duration>,
    },
    /// Check a job file without running it or touching any data.
    Validate {
        /// The job file.
        job: PathBuf,
    },
    /// List the checkpoints in a directory, or show one.
    Checkpoints {
        /// The checkpoint directory (`checkpoint.dir` of a job).
        dir: String,
        /// Show this checkpoint (`latest` for the newest).
        #[arg(long)]
        show: Option<String>,
        /// Print the checkpoint document as JSON (with --show).
        #[arg(long)]
        json: bool,
    },
}

/// A duration on the command line, as job files write them (`"30s"`, `"1m 30s"`).
fn duration(s: &str) -> Result<std::time::Duration, String> {
    spillway::core::units::HumanDuration::parse(s).map(|d| d.0)
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SPILLWAY_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(report::LogWriter);
    match format {
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Lets a job with many open parts keep a file open per part.
fn raise_open_file_limit() {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed in.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Counts SIGTERM and SIGINT from the start of the process: the first asks the job to stop (or
/// ends the linger of the HTTP endpoint), a second exits at once. Listening from the start means no
/// signal is lost between the job's end and the linger.
fn watch_signals() -> tokio::sync::watch::Receiver<u32> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            let n = *tx.borrow() + 1;
            if n == 1 {
                eprintln!("stopping: taking a final checkpoint and publishing every part (signal again to exit at once)");
            } else {
                eprintln!("second signal: exiting without a final checkpoint; the next run continues from the last one");
                std::process::exit(130);
            }
            let _ = tx.send(n);
        }
    });
    rx
}

/// Resolves once a signal was received.
async fn signalled(mut signals: tokio::sync::watch::Receiver<u32>) {
    let _ = signals.wait_for(|n| *n > 0).await;
}

fn exit_code(e: &Error) -> ExitCode {
    match e {
        Error::Config { .. } | Error::InvalidPath { .. } => ExitCode::from(2),
        e if e.kind() == ErrorKind::User => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

async fn main_inner(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Validate { job } => {
            let file = JobFile::load(&job)?;
            let plan = build::validate(&file)?;
            println!("{}: OK", job.display());
            println!(
                "  job          {} (parallelism {})",
                plan.job, plan.parallelism
            );
            println!("  source       {}", plan.source);
            println!(
                "  sink         {} files under {}",
                plan.sink.format, plan.path
            );
            println!("  bucketing    {}", plan.sink.bucketing);
            println!("  rolling      {}", plan.sink.rolling);
            println!(
                "  checkpoints  every {:?} in {}",
                plan.checkpoint_interval, plan.checkpoint_dir
            );
            Ok(())
        }
        Command::Run {
            job,
            worker,
            workers,
            no_progress,
            http,
            http_linger,
        } => {
            let file = JobFile::load(&job)?;
            // Up before the restore, so that orchestrators see "not ready" until it is done.
            let endpoint = match http {
                Some(addr) => Some(spillway::http::serve(addr).await?.0),
                None => None,
            };
            if workers == 0 || worker >= workers {
                return Err(Error::config(
                    "--worker",
                    format!(
                        "worker {worker} of {workers} does not exist (workers are numbered from 0)"
                    ),
                ));
            }
            raise_open_file_limit();
            let options = RunOptions { worker, workers };
            let mut progress_task = None;
            let signals = watch_signals();
            let summary = build::run(&file, &options, signalled(signals.clone()), |p| {
                if let Some(e) = &endpoint {
                    e.attach(Arc::clone(&p));
                }
                progress_task = Some(report::spawn_progress(p, !no_progress));
            })
            .await;
            if let Some(t) = progress_task {
                if summary.is_err() {
                    t.abort();
                }
                let _ = t.await;
            }
            let summary = summary?;
            print!(
                "{}",
                report::summary(&file.job.name, &summary, file.sink.path())
            );
            if let (Some(_), Some(linger)) = (&endpoint, http_linger) {
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
                tracing::info!("the job ended; serving its final figures for {linger:?}");
                tokio::select! {
                    _ = tokio::time::sleep(linger) => {}
                    _ = signalled(signals) => {}
                }
            }
            Ok(())
        }
        Command::Checkpoints { dir, show, json } => {
            let store = build::existing_checkpoint_store(&dir).await?;
            let text = match show.as_deref() {
                None => report::list_checkpoints(store).await?,
                Some("latest") => report::show_checkpoint(store, None, json).await?,
                Some(id) => {
                    let id = id.parse().map_err(|_| {
                        Error::config(
                            "--show",
                            format!("{id:?} is not a checkpoint id or `latest`"),
                        )
                    })?;
                    report::show_checkpoint(store, Some(id), json).await?
                }
            };
            print!("{text}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(main_inner(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(&e)
        }
    }
}
