//! Which database a [`crate::Store`] talks to, how it is opened and migrated, and the few SQL
//! spellings that differ between SQLite and PostgreSQL.
//!
//! Every query goes through sqlx's `Any` driver, so one statement text serves both backends:
//! placeholders are written `$1, $2, …` (PostgreSQL's form, which SQLite also accepts), values
//! are text, integers and floats only (JSON and times are stored as text or milliseconds), and
//! the statements keep to SQL both engines understand (`INSERT … ON CONFLICT`, row-value
//! comparisons, `IS NOT DISTINCT FROM`). What cannot be written once is asked of [`Backend`].
//! The schema is created by one migration folder per backend with the same numbering
//! (`migrations/sqlite`, `migrations/postgres`): see `docs/database.md`.

use crate::store::StoreOpenError;
use sqlx::any::{AnyArguments, AnyPoolOptions};
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Any, AnyPool, Arguments, ConnectOptions, Connection, Encode, Executor, Type};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// The database engine behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (the default: `penstock.db` in the home).
    Sqlite,
    /// A PostgreSQL server (`--database postgres://…`).
    Postgres,
}

impl Backend {
    /// Its name as `healthz` reports it: `sqlite` or `postgresql`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    }

    /// The operator matching text case-insensitively (SQLite's `LIKE` already is, for ASCII).
    pub(crate) fn ilike(self) -> &'static str {
        match self {
            Backend::Sqlite => "LIKE",
            Backend::Postgres => "ILIKE",
        }
    }
}

/// Where the store lives, parsed from `--database` / `PENSTOCK_DATABASE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    /// A SQLite file.
    Sqlite(std::path::PathBuf),
    /// A PostgreSQL connection URL (`postgres://user:password@host:port/database?…`).
    Postgres(String),
}

impl DatabaseLocation {
    /// Reads a database URL: `postgres://…` or `postgresql://…` selects PostgreSQL;
    /// `sqlite://PATH` or `sqlite:PATH` a SQLite file.
    pub fn parse(url: &str) -> Result<DatabaseLocation, StoreOpenError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseLocation::Postgres(url.to_string()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err(StoreOpenError(format!(
                    "database URL '{url}' names no file: expected sqlite://PATH"
                )));
            }
            return Ok(DatabaseLocation::Sqlite(path.into()));
        }
        Err(StoreOpenError(format!(
            "database URL '{}' is not supported: expected postgres://USER:PASSWORD@HOST:PORT/DATABASE \
             or sqlite://PATH",
            redact(url)
        )))
    }

    /// The location for messages: a PostgreSQL URL without its password.
    pub fn display(&self) -> String {
        match self {
            DatabaseLocation::Sqlite(p) => p.display().to_string(),
            DatabaseLocation::Postgres(url) => redact(url),
        }
    }
}

/// `url` with the password (between `user:` and `@`) replaced by `***`, and a `password=`
/// query parameter likewise, so the URL can be shown in errors and logs.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = out[rest_start..]
            .find(['/', '?'])
            .map_or(out.len(), |i| rest_start + i);
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    if let Some(q) = out.find('?') {
        let (base, query) = out.split_at(q + 1);
        let query: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                _ => pair.to_string(),
            })
            .collect();
        out = format!("{base}{}", query.join("&"));
    }
    out
}

fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}

/// The pools of an opened store: readers, and the connection(s) that write.
pub(crate) struct Opened {
    pub pool: AnyPool,
    pub writer: AnyPool,
    /// The SQLite file (its run writer opens a connection of its own).
    pub file: Option<std::path::PathBuf>,
}

/// Opens (creating if needed) a SQLite file and applies its pending migrations.
pub(crate) async fn open_sqlite(path: &Path) -> Result<Opened, StoreOpenError> {
    install_drivers();
    let fail = |e: &dyn std::fmt::Display| StoreOpenError(format!("{}: {e}", path.display()));
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10));
    // Two processes opening a fresh home at once (a `penstock run` and a `penstock runs list`)
    // would both apply the first migration: SQLite's migrator takes no lock. An advisory lock
    // on a file beside the database makes opening one process at a time; it is released when
    // `_open_lock` is dropped at the end of this function.
    let lock_path = path.with_extension("db.lock");
    let _open_lock = {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StoreOpenError(format!("{}: {e}", lock_path.display())))?;
        let locked = tokio::task::spawn_blocking(move || file.lock().map(|()| file))
            .await
            .map_err(|e| StoreOpenError(format!("{}: {e}", lock_path.display())))?;
        locked.map_err(|e| StoreOpenError(format!("{}: {e}", lock_path.display())))?
    };
    // Migrations run on a connection of SQLite's own driver, which also makes the file and
    // turns on write-ahead logging (a property of the file that later connections keep).
    let mut conn = options.connect().await.map_err(|e| fail(&e))?;
    sqlx::migrate!("./migrations/sqlite")
        .run(&mut conn)
        .await
        .map_err(|e| StoreOpenError(format!("{}: migration failed: {e}", path.display())))?;
    // Gathers planner statistics where they are missing or stale (SQLite's advice for
    // long-lived connections), so list queries pick the experiment and state indexes.
    conn.execute("PRAGMA optimize=0x10002")
        .await
        .map_err(|e| fail(&e))?;
    conn.close().await.map_err(|e| fail(&e))?;
    let url = sqlite_url(path);
    let connect = |max: u32| {
        AnyPoolOptions::new()
            .max_connections(max)
            .test_before_acquire(false)
            .after_connect(|conn, _| {
                Box::pin(async move { conn.execute(SQLITE_CONNECTION_PRAGMAS).await.map(|_| ()) })
            })
            .connect(&url)
    };
    // One connection for the store's own writes (runs, experiments, leases): SQLite serialises
    // writes anyway. The engine's task writes go through the run writer's own connection
    // (`run_writer.rs`); both begin their transactions IMMEDIATE (`begin_write`), so they wait
    // for each other's lock (busy timeout) instead of failing on a lock upgrade.
    let writer = connect(1).await.map_err(|e| fail(&e))?;
    // Readers (several connections; WAL lets them run beside the writer).
    let pool = connect(4).await.map_err(|e| fail(&e))?;
    Ok(Opened {
        pool,
        writer,
        file: Some(path.to_path_buf()),
    })
}

/// The settings of every SQLite connection the store opens (the pools' and the run writer's):
/// foreign keys checked, commits not synced until a checkpoint (write-ahead logging keeps them
/// safe from a crash of the process), and up to 10 s of waiting for another writer's lock.
pub(crate) const SQLITE_CONNECTION_PRAGMAS: &str =
    "PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 10000";

/// `sqlite://` URL of a path, its bytes outside the unreserved set percent-encoded.
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for b in path.as_os_str().as_encoded_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                url.push(*b as char)
            }
            _ => url.push_str(&format!("%{b:02X}")),
        }
    }
    url
}

/// How often and how long opening a PostgreSQL store retries a server that does not answer.
const CONNECT_ATTEMPTS: u32 = 4;

/// Connects to PostgreSQL and applies pending migrations. A server that cannot be reached is
/// retried a few times with backoff (it may be starting beside us); then the error names the
/// URL without its password.
pub(crate) async fn open_postgres(url: &str) -> Result<Opened, StoreOpenError> {
    install_drivers();
    let shown = redact(url);
    let fail = |e: &dyn std::fmt::Display| StoreOpenError(format!("{shown}: {e}"));
    let options = PgConnectOptions::from_str(url).map_err(|e| fail(&e))?;
    let mut delay = Duration::from_millis(250);
    let mut attempt = 1;
    let mut conn = loop {
        let tried = tokio::time::timeout(
            Duration::from_secs(10),
            sqlx::PgConnection::connect_with(&options),
        )
        .await;
        match tried {
            Ok(Ok(conn)) => break conn,
            Ok(Err(e)) if attempt < CONNECT_ATTEMPTS && retryable(&e) => {
                tracing::warn!(database = %shown, attempt, error = %e, "database not reachable; retrying");
            }
            Ok(Err(e)) => {
                return Err(StoreOpenError(format!(
                    "cannot connect to the database at {shown}: {e}"
                )))
            }
            Err(_) if attempt < CONNECT_ATTEMPTS => {
                tracing::warn!(database = %shown, attempt, "database did not answer in 10 s; retrying");
            }
            Err(_) => {
                return Err(StoreOpenError(format!(
                    "cannot connect to the database at {shown}: no answer in 10 s"
                )))
            }
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
        attempt += 1;
    };
    // The migrator holds an advisory lock, so servers starting together migrate once.
    sqlx::migrate!("./migrations/postgres")
        .run(&mut conn)
        .await
        .map_err(|e| StoreOpenError(format!("{shown}: migration failed: {e}")))?;
    conn.close().await.map_err(|e| fail(&e))?;
    let pool = AnyPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .map_err(|e| fail(&e))?;
    Ok(Opened {
        writer: pool.clone(),
        pool,
        file: None,
    })
}

/// Begins a write transaction on `pool`. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): the store writes through two connections (the run writer's own and
/// this pool's), and a transaction that read before writing would otherwise fail when the
/// other connection committed in between, instead of waiting for it.
pub(crate) async fn begin_write(
    pool: &AnyPool,
    backend: Backend,
) -> Result<sqlx::Transaction<'static, Any>, sqlx::Error> {
    match backend {
        Backend::Sqlite => pool.begin_with("BEGIN IMMEDIATE").await,
        Backend::Postgres => pool.begin().await,
    }
}

/// Whether a connection error may go away by itself (the server is starting, the network is
/// briefly down), unlike a refused password or a missing database.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(
        e,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_)
    ) || matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("57P03"))
}

/// A statement assembled piece by piece, its values bound as `$1, $2, …` (the form both
/// backends accept through the `Any` driver).
pub(crate) struct SqlBuilder {
    sql: String,
    args: AnyArguments,
    count: usize,
}

impl SqlBuilder {
    /// A statement starting with `sql`.
    pub fn new(sql: impl Into<String>) -> SqlBuilder {
        SqlBuilder {
            sql: sql.into(),
            args: AnyArguments::default(),
            count: 0,
        }
    }

    /// Appends SQL text.
    pub fn push(&mut self, sql: impl AsRef<str>) -> &mut SqlBuilder {
        self.sql.push_str(sql.as_ref());
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn push_bind<T>(&mut self, value: T) -> &mut SqlBuilder
    where
        T: for<'q> Encode<'q, Any> + Type<Any> + 'static,
    {
        self.count += 1;
        self.sql.push_str(&format!("${}", self.count));
        if let Err(e) = self.args.add(value) {
            // Encoding text and numbers into the Any buffer cannot fail; if it ever did, the
            // statement would fail on its missing parameter with a clear database error.
            tracing::error!("cannot bind a list parameter: {e}");
        }
        self
    }

    /// The SQL so far.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The executable statement.
    pub fn build(self) -> sqlx::query::Query<'static, Any, AnyArguments> {
        sqlx::query_with(sqlx::AssertSqlSafe(self.sql), self.args)
    }

    /// The executable statement, reading one column of each row.
    pub fn build_scalar<T>(self) -> sqlx::query::QueryScalar<'static, Any, T, AnyArguments>
    where
        (T,): for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_scalar_with(sqlx::AssertSqlSafe(self.sql), self.args)
    }

    /// The executable statement, reading each row as `T`.
    pub fn build_as<T>(self) -> sqlx::query::QueryAs<'static, Any, T, AnyArguments>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::any::AnyRow>,
    {
        sqlx::query_as_with(sqlx::AssertSqlSafe(self.sql), self.args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://penstock:s3cret@db:5432/penstock"),
            "postgres://penstock:***@db:5432/penstock"
        );
        assert_eq!(
            redact("postgres://db/penstock?user=u&password=p&sslmode=disable"),
            "postgres://db/penstock?user=u&password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://u@db/x"), "postgres://u@db/x");
        let err = DatabaseLocation::parse("mysql://u:pw@h/db")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("pw"), "{err}");
        assert!(err.contains("expected postgres://"), "{err}");
    }

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            DatabaseLocation::parse("postgresql://h/db").ok(),
            Some(DatabaseLocation::Postgres("postgresql://h/db".into()))
        );
        assert_eq!(
            DatabaseLocation::parse("sqlite:///tmp/x.db").ok(),
            Some(DatabaseLocation::Sqlite("/tmp/x.db".into()))
        );
        assert_eq!(sqlite_url(Path::new("/a b/c.db")), "sqlite:///a%20b/c.db");
    }
}
