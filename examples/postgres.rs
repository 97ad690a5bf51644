//! Several instances, one Postgres, each tick once. With a database you can
//! reach, run this in three terminals:
//!
//! ```text
//! DATABASE_URL=postgres://app:secret@127.0.0.1:5432/app cargo run --example postgres
//! ```
//!
//! The first instance creates cronlock's tables (schema `cronlock`, or
//! `$CRONLOCK_SCHEMA`). Every second exactly one of the instances prints
//! `tick ran here`; stop one with Ctrl-C and the others carry on. The same
//! works through PgBouncer in transaction mode: point `DATABASE_URL` at it.
//! Inspect the fleet with `DATABASE_URL=… cargo run -p cronlock-cli -- list`.

use cronlock::{JobContext, scheduled};

#[scheduled(cron = "* * * * * *", timeout = "5s")]
async fn every_second(ctx: JobContext) {
    tracing::info!(
        instance = std::process::id(),
        fencing_token = ctx.fencing_token(),
        "tick ran here"
    );
}

#[tokio::main]
async fn main() -> Result<(), cronlock::Error> {
    if std::env::var_os("DATABASE_URL").is_none() {
        eprintln!(
            "set DATABASE_URL, for example DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (see the top of examples/postgres.rs)"
        );
        std::process::exit(2);
    }
    // REDIS_URL would win over DATABASE_URL: this example is about Postgres.
    if std::env::var_os("REDIS_URL").is_some() {
        eprintln!("unset REDIS_URL: with both set, cronlock uses Redis");
        std::process::exit(2);
    }
    cronlock::run().await
}
