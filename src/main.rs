//! `fieldservice`: the server, the scheduler and the operator's commands in one binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use fieldservice::app::{self, AppState};
use fieldservice::clock::{Clock, SystemClock};
use fieldservice::config::{Config, LogFormat};
use fieldservice::db::Db;
use fieldservice::domain::StaffRole;
use fieldservice::engine::{self, TickOptions};
use fieldservice::i18n::message;
use fieldservice::{check, demo, jobs, password, staff};

/// The version and the git commit the binary was built from (build.rs).
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("FS_GIT_COMMIT"), ")");

/// Field Service: dispatch for small service firms — orders, masters, automatic distribution.
#[derive(Debug, Parser)]
#[command(version = VERSION, about)]
struct Cli {
    /// Configuration file (missing = built-in defaults).
    #[arg(long, global = true, env = "FIELDSERVICE_CONFIG", default_value = "fieldservice.toml")]
    config: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server with the scheduler and background jobs (the default).
    Serve {
        /// Load the demo dataset first if the database is empty, and print the demo logins.
        #[arg(long)]
        demo: bool,
    },
    /// Run exactly one scheduler tick and print what it did as JSON (safe beside a running server).
    Tick {
        /// The tick's "now" (RFC 3339), e.g. 2026-03-10T09:00:00Z; default: the current time.
        #[arg(long)]
        now: Option<DateTime<Utc>>,
    },
    /// Load the demo dataset into an empty database.
    Demo,
    /// Manage staff accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Write a consistent, checked copy of the live database to PATH, also while the server writes.
    Backup {
        /// Where to write the copy (must not exist).
        path: PathBuf,
    },
    /// Check the database: SQLite integrity, foreign keys and the engine's invariants.
    Check,
    /// Put the backup at PATH in place of the database (the server must be stopped); the current database is
    /// kept beside it as `<name>.before-restore-<time>`.
    Restore {
        /// The backup file (from `fieldservice backup` or the scheduled backups).
        path: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a global admin.
    Create {
        /// Login.
        #[arg(long)]
        login: String,
        /// Password (generated and printed when omitted).
        #[arg(long)]
        password: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(&cli.config, std::env::vars()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("fieldservice: configuration error: {error}");
            return ExitCode::from(2);
        }
    };
    init_logs(&config);
    match run(cli.command.unwrap_or(Command::Serve { demo: false }), config) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("fieldservice: {message}");
            ExitCode::FAILURE
        }
    }
}

fn open(config: &Config) -> Result<Db, String> {
    Db::open(&config.database, config.durability).map_err(|e| e.to_string())
}

fn run(command: Command, config: Config) -> Result<ExitCode, String> {
    match command {
        Command::Serve { demo } => serve(config, demo),
        Command::Tick { now } => {
            let db = open(&config)?;
            let now = now.unwrap_or_else(Utc::now);
            let report = engine::tick_waiting(&db, now, TickOptions::fresh(), std::time::Duration::from_secs(30))
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&report).expect("a report serialises"));
            if report.ran {
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("fieldservice: another scheduler held the lease for 30 s; no tick was run");
                Ok(ExitCode::from(3))
            }
        }
        Command::Demo => {
            let db = open(&config)?;
            let summary = demo::load_with_history(&db, Utc::now()).map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&summary).expect("a summary serialises"));
            print_logins(&config);
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin { command: AdminCommand::Create { login, password: given } } => {
            let db = open(&config)?;
            let password = given.clone().unwrap_or_else(password::generate);
            let hash = password::hash(&password);
            let id = db
                .write(|tx| staff::create(tx, Utc::now(), &login, &hash, StaffRole::GlobalAdmin, &login, &[]))
                .map_err(|e| format!("cannot create the admin: {}", e.message(config.language)))?;
            println!("created global admin #{id} with login {login}");
            if given.is_none() {
                println!("password: {password}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { path } => {
            if path.exists() {
                return Err(format!("{} already exists; choose a new file", path.display()));
            }
            open(&config)?.backup(&path).map_err(|e| e.to_string())?;
            println!("backup written to {}", path.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { path } => {
            let restored = fieldservice::ops::restore::restore(&config.database, &path, Utc::now()).map_err(|e| e.to_string())?;
            if let Some(kept) = &restored.kept {
                println!("the database that was replaced is kept as {}", kept.display());
            }
            println!("restored {} from {} (schema version {})", config.database.display(), path.display(), restored.schema_version);
            // Opening brings an older backup up to date and proves it starts.
            open(&config)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check => {
            let db = open(&config)?;
            let problems = db.read(|c| check::run(c).map_err(fieldservice::db::DbError::from)).map_err(|e| e.to_string())?;
            if problems.is_empty() {
                println!("ok: {} is sound", config.database.display());
                Ok(ExitCode::SUCCESS)
            } else {
                for problem in &problems {
                    println!("problem: {problem}");
                }
                Ok(ExitCode::FAILURE)
            }
        }
    }
}

fn print_url(config: &Config) {
    println!("{}", message(config.language, "cli.url").replace("{url}", &format!("http://{}/", config.listen)));
}

fn print_logins(config: &Config) {
    print_url(config);
    for key in ["cli.demo_logins", "cli.demo_admin", "cli.demo_city_admin", "cli.demo_logist", "cli.demo_masters"] {
        println!("{}", message(config.language, key));
    }
}

/// Logs to standard error: text with colours only on a terminal (a log file or the journal gets no escape
/// codes), or one JSON object per line.
fn init_logs(config: &Config) {
    use std::io::IsTerminal;
    let logs = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(&config.log_level)).with_writer(std::io::stderr);
    match config.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// The VAPID subject of `serve --demo` when the configuration names none.
const DEMO_PUSH_CONTACT: &str = "mailto:demo@fieldservice.invalid";

fn serve(mut config: Config, with_demo: bool) -> Result<ExitCode, String> {
    // Held for the server's life: `restore` refuses while any server runs on the file.
    let _running = fieldservice::ops::instance::serving(&config.database)
        .map_err(|e| format!("cannot lock {}: {e}", fieldservice::ops::instance::lock_path(&config.database).display()))?
        .ok_or_else(|| format!("{} is being restored; start the server when the restore has finished", config.database.display()))?;
    let db = open(&config)?;
    if with_demo {
        // The demo shows the whole master's page, the "turn on notifications" step included.
        config.push_contact.get_or_insert_with(|| DEMO_PUSH_CONTACT.to_string());
        let empty = db.read(|c| demo::is_empty(c).map_err(fieldservice::db::DbError::from)).map_err(|e| e.to_string())?;
        if empty {
            demo::load_with_history(&db, Utc::now()).map_err(|e| e.to_string())?;
            println!("Demo dataset loaded into {}", config.database.display());
        } else {
            println!("{} already has data; serving it as it is", config.database.display());
        }
    }
    fieldservice::process::tune();
    fieldservice::uploads::remove_incoming(&config.data_dir);
    // Database work runs on blocking threads; more of them than the read pool has connections only adds
    // thread switches when a thousand masters press "accept" at once.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(config.listen).await.map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let state = AppState { db, clock, config: Arc::new(config.clone()) };
        if with_demo {
            print_logins(&config);
        } else {
            print_url(&config);
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let scheduler = tokio::spawn(jobs::run_scheduler_until_stopped(state.clone(), stop_rx.clone()));
        let background = tokio::spawn(jobs::run_jobs_until_stopped(state.clone(), stop_rx.clone()));
        let push = tokio::spawn(jobs::run_push_until_stopped(state.clone(), stop_rx));
        app::serve(listener, state, shutdown_signal()).await.map_err(|e| e.to_string())?;
        tracing::info!("shutting down: finishing the current tick");
        let _ = stop_tx.send(true);
        let _ = tokio::join!(scheduler, background, push);
        Ok(ExitCode::SUCCESS)
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
