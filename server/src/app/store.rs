//! The app's store: which database the config names, opening it with the master
//! key (generated only where that is safe), and its health on gRPC.

use crate::config::Config;
use crate::crypto::{KeySource, MasterKey};
use crate::status::{STORE_HEALTH_SERVICE, Status};
use crate::store::{Database, Store, StoreError};

use super::AppError;

/// Follows `status` into the gRPC health of `switchyard.v1.Store`: `NOT_SERVING`
/// while a component is degraded. `switchyard.v1.SwitchyardService` is left alone:
/// calls are still served (from memory) while the store fails. The caller sets
/// the first status with [`set_store_health`] before it serves, so a health check
/// never finds the service unregistered.
pub(super) async fn report_store_health(
    status: Status,
    reporter: tonic_health::server::HealthReporter,
) {
    let mut changes = status.subscribe();
    loop {
        set_store_health(&status, &reporter).await;
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Sets the gRPC health of `switchyard.v1.Store` from `status` as it is now.
pub(super) async fn set_store_health(
    status: &Status,
    reporter: &tonic_health::server::HealthReporter,
) {
    use tonic_health::ServingStatus;
    let serving = if status.is_degraded() {
        ServingStatus::NotServing
    } else {
        ServingStatus::Serving
    };
    reporter
        .set_service_status(STORE_HEALTH_SERVICE, serving)
        .await;
}

/// The configured database: PostgreSQL when `database.url` (or `DATABASE_URL`) is
/// set, else the SQLite file `database.path`.
pub fn database(config: &Config) -> Result<Database, StoreError> {
    Ok(match &config.database.url {
        Some(url) => Database::postgres(url.clone())?,
        None => Database::Sqlite(config.database.path.clone()),
    })
}

/// Opens the configured store with the configured master key. A key file is
/// generated only for a database that holds no sealed secrets.
pub async fn open_store(config: &Config) -> Result<Store, AppError> {
    use secrecy::ExposeSecret as _;
    let db = database(config)?;
    let key_file = config.master_key_file();
    let env = config.master_key_env.as_ref().map(|k| k.expose_secret());
    let (key, source) = match MasterKey::load_existing(env, &key_file)? {
        Some(found) => found,
        None if matches!(db, Database::Postgres(_)) => {
            return Err(AppError::MasterKeyRequired {
                key_file,
                database: db.name(),
            });
        }
        None if Store::holds_sealed_secrets_at(&db).await? => {
            return Err(AppError::MissingMasterKey {
                key_file,
                database: db.name(),
            });
        }
        None => MasterKey::create(&key_file)?,
    };
    match &source {
        KeySource::Generated(path) => tracing::warn!(
            file = %path.display(),
            "no master key given: created a key file; keep it apart from backups of the database"
        ),
        KeySource::File(path) => tracing::debug!(file = %path.display(), "master key from file"),
        KeySource::Env => tracing::debug!("master key from SWITCHYARD_MASTER_KEY"),
    }
    Ok(Store::open_at(&db, key).await?)
}
