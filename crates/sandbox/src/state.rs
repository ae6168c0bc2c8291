//! The sandbox's one piece of shared state: settings, keys, leads, rate-limit windows,
//! faults and the request log, behind one lock, and the admission gate every API request
//! passes through.
//!
//! One `std::sync::Mutex` is enough for a test server: it is never held across an
//! `.await`, and it makes each decision (count, refuse, choose a fault) atomic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::auth::{
    self, DEFAULT_ACCOUNT_ID, KeyError, KeySpec, KeyStatus, KeyStore, NO_SYNC_KEY, TEST_KEY, scopes,
};
use crate::clock;
use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::error::ApiError;
use crate::faults::{FaultEngine, Faults, Planned};
use crate::log::LoggedRequest;
use crate::ratelimit::{self, RateLimiter, Tier, TierStatus};
use crate::store::{Account, DeleteOutcome, StoredLead, SyncOutcome, SyncRefusal};
use crate::validate::{LeadError, LeadInput, SyncBody};

/// Everything a sandbox holds, shared between the server, its handlers and the test that
/// started it. Cloning is cheap (an `Arc`), and the state outlives the server: pass it to
/// [`Sandbox::start_with_state`](crate::Sandbox::start_with_state) to restart with the same
/// leads, keys, windows and log.
#[derive(Debug, Clone)]
pub struct SharedState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Origin of the log's `at_ms`.
    started: Instant,
    data: Mutex<Data>,
}

#[derive(Debug)]
struct Data {
    config: Config,
    keys: KeyStore,
    accounts: BTreeMap<String, Account>,
    limiter: RateLimiter,
    faults: FaultEngine,
    log: Vec<LoggedRequest>,
    next_seq: u64,
}

/// What the gate decided for one request.
#[derive(Debug)]
pub(crate) struct Admission {
    pub(crate) seq: u64,
    pub(crate) at_ms: u64,
    /// The account of the caller, once admitted (`None` outside `/api`).
    pub(crate) verdict: Result<Option<String>, ApiError>,
    pub(crate) key_hint: Option<String>,
    /// The account of a key that authenticated, even if the request was refused later.
    pub(crate) account: Option<String>,
    pub(crate) refused_by: Option<Tier>,
    /// The numbers for the `RateLimit` headers.
    pub(crate) rate: Option<TierStatus>,
    pub(crate) fault: Option<Planned>,
    pub(crate) latency: Option<Duration>,
    pub(crate) config: Config,
}

impl SharedState {
    /// A fresh state: the default account with the two demo keys ([`TEST_KEY`] with every
    /// scope, [`NO_SYNC_KEY`] without the sync scopes), no leads, and `config.faults` in
    /// force.
    pub fn new(config: Config) -> Self {
        let now = Instant::now();
        let mut keys = KeyStore::default();
        install_demo_keys(&mut keys);
        let mut accounts = BTreeMap::new();
        accounts.insert(
            DEFAULT_ACCOUNT_ID.to_owned(),
            Account::new(DEFAULT_ACCOUNT_ID),
        );
        let data = Data {
            faults: FaultEngine::new(config.faults.clone(), config.seed, now),
            config,
            keys,
            accounts,
            limiter: RateLimiter::default(),
            log: Vec::new(),
            next_seq: 1,
        };
        SharedState {
            inner: Arc::new(Inner {
                started: now,
                data: Mutex::new(data),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Data> {
        // A panic in a handler must not take every later test assertion down with it.
        self.inner
            .data
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The settings in force (faults as set at start; see [`SharedState::faults`]).
    pub fn config(&self) -> Config {
        self.lock().config.clone()
    }

    /// Changes settings at runtime (limits, window, header style, conflict mode, strict
    /// validation). Faults are not touched: use [`SharedState::set_faults`].
    pub fn update_config(&self, f: impl FnOnce(&mut Config)) {
        let mut data = self.lock();
        let faults = data.config.faults.clone();
        f(&mut data.config);
        data.config.faults = faults;
    }

    /// The faults in force now.
    pub fn faults(&self) -> Faults {
        self.lock().faults.faults().clone()
    }

    /// Replaces the faults. The N of scripted rules counts from here, a storm without a
    /// start request starts now, and the random generators restart from the seed.
    pub fn set_faults(&self, faults: Faults) {
        self.lock().faults.replace(faults, Instant::now());
    }

    /// Every lead of the default account, by id, with its `write_count`.
    pub fn leads(&self) -> Vec<StoredLead> {
        self.leads_of(DEFAULT_ACCOUNT_ID)
    }

    /// Every lead of `account`, by id (empty for an unknown account).
    pub fn leads_of(&self, account: &str) -> Vec<StoredLead> {
        self.lock()
            .accounts
            .get(account)
            .map(|a| a.leads().cloned().collect())
            .unwrap_or_default()
    }

    /// Every API request so far, in the order their outcome was logged.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// Registers a new random key as `spec` says, creating its account if needed, and
    /// returns the full key (the only time it is seen: the sandbox keeps its hash).
    pub fn add_key(&self, spec: KeySpec) -> String {
        let key = auth::generate(spec.environment);
        self.insert_key(&key, spec)
            .expect("generated keys are well formed");
        key
    }

    /// Registers a given key (e.g. a fixed key for a demo).
    pub fn insert_key(&self, key: &str, spec: KeySpec) -> Result<(), KeyError> {
        let mut data = self.lock();
        let account = spec.account.clone();
        data.keys.insert(key, spec)?;
        data.accounts
            .entry(account)
            .or_insert_with_key(|id| Account::new(id));
        Ok(())
    }

    /// Revokes, expires or reactivates a registered key; says whether it was registered.
    pub fn set_key_status(&self, key: &str, status: KeyStatus) -> bool {
        self.lock().keys.set_status(key, status)
    }

    /// A fresh account id (24 hex characters, like a MongoDB ObjectId) for
    /// [`KeySpec::account`].
    pub fn new_account_id() -> String {
        let bytes: [u8; 12] = rand::rng().random();
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Seeds a pre-existing lead in the default account (e.g. for phone-conflict tests),
    /// as if created earlier by another client: its `write_count` is 0 and its `source` is
    /// `"api"`.
    pub fn insert_lead(&self, lead: LeadInput) -> Result<StoredLead, LeadError> {
        self.insert_lead_into(DEFAULT_ACCOUNT_ID, lead)
    }

    /// Seeds a pre-existing lead in `account` (created if unknown). Fails with
    /// [`LeadError::PhoneTaken`] or [`LeadError::LeadIdTaken`] if the lead would collide.
    pub fn insert_lead_into(
        &self,
        account: &str,
        lead: LeadInput,
    ) -> Result<StoredLead, LeadError> {
        let mut data = self.lock();
        let acc = data
            .accounts
            .entry(account.to_owned())
            .or_insert_with_key(|id| Account::new(id));
        acc.create(lead, None, &clock::now_rfc3339(), false)
            .cloned()
    }

    /// Back to the state right after start: no leads, an empty log whose `seq` restarts
    /// from 1, empty rate-limit windows, and the faults of the start settings. Keys (and
    /// accounts) are kept; `at_ms` still counts from when the state was created.
    pub fn reset(&self) {
        let mut data = self.lock();
        let ids: Vec<String> = data.accounts.keys().cloned().collect();
        data.accounts = ids
            .into_iter()
            .map(|id| {
                let acc = Account::new(&id);
                (id, acc)
            })
            .collect();
        data.log.clear();
        data.next_seq = 1;
        data.limiter.clear();
        let faults = data.config.faults.clone();
        data.faults.replace(faults, Instant::now());
    }

    pub(crate) fn push_log(&self, entry: LoggedRequest) {
        self.lock().log.push(entry);
    }

    /// The gate, in our order: Global (IP) → authentication → API Key → Account → Sync
    /// (sync endpoints) → scope. A request counts against every tier it passed; the tier
    /// that refuses it does not count it. Then, for a sync request that passed everything,
    /// the fault engine picks its fault.
    pub(crate) fn admit(
        &self,
        ip: IpAddr,
        key: Option<&str>,
        endpoint: &Endpoint,
        arrived: Instant,
    ) -> Admission {
        let mut guard = self.lock();
        let data = &mut *guard;
        // The rate-limit windows and the log count the request when it arrived, not when
        // it got the lock: a sync that holds the lock while it applies its leads must not
        // make the requests behind it look as if they had come later, and so fall into a
        // later window.
        let now = arrived;
        let seq = data.next_seq;
        data.next_seq += 1;
        let (limits, window) = (data.config.limits, data.config.window);

        let mut checked: Vec<TierStatus> = Vec::with_capacity(4);
        let mut account = None;
        let verdict = (|| {
            let global = data.limiter.check_global(ip, now, &limits, window);
            checked.push(global.status);
            if !global.passed {
                return Err(Tier::Global.into());
            }
            if !endpoint.needs_auth() {
                return Ok(None);
            }
            let key = key.ok_or(Gate::Refused(ApiError::AuthRequired))?;
            let (key_id, record) = data
                .keys
                .authenticate(key)
                .ok_or(Gate::Refused(ApiError::InvalidKey))?;
            let record = record.clone();
            account = Some(record.account.clone());

            let c = data.limiter.check_api_key(key_id, now, &limits, window);
            checked.push(c.status);
            if !c.passed {
                return Err(Tier::ApiKey.into());
            }
            let c = data
                .limiter
                .check_account(&record.account, now, &limits, window);
            checked.push(c.status);
            if !c.passed {
                return Err(Tier::Account.into());
            }
            if endpoint.is_sync() {
                let c = data.limiter.check_sync(key_id, now, &limits, window);
                checked.push(c.status);
                if !c.passed {
                    return Err(Tier::Sync.into());
                }
            }
            if let Some(scope) = endpoint.scope()
                && !record.has_scope(scope)
            {
                return Err(Gate::Refused(ApiError::MissingScope(scope)));
            }
            Ok(Some(record.account))
        })();

        let refused_by = match &verdict {
            Err(Gate::RateLimited(tier)) => Some(*tier),
            _ => None,
        };
        let rate = ratelimit::header_tier(&checked, refused_by);
        let verdict = verdict.map_err(|g| match g {
            Gate::Refused(e) => e,
            Gate::RateLimited(tier) => ApiError::RateLimited {
                tier,
                retry_after_secs: rate.map_or(1, |s| s.retry_after_secs(window)),
            },
        });
        let processed_sync = endpoint.is_sync() && verdict.is_ok();
        let fault = if processed_sync {
            data.faults.next_sync(now)
        } else {
            None
        };
        let latency = if endpoint.needs_auth() {
            data.faults.latency(processed_sync)
        } else {
            None
        };
        Admission {
            seq,
            at_ms: u64::try_from(now.duration_since(self.inner.started).as_millis())
                .unwrap_or(u64::MAX),
            verdict,
            key_hint: key.map(auth::key_hint),
            account,
            refused_by,
            rate,
            fault,
            latency,
            config: data.config.clone(),
        }
    }

    /// Runs a well-formed sync body against `account`.
    pub(crate) fn sync(&self, account: &str, body: SyncBody) -> Result<SyncOutcome, SyncRefusal> {
        let now = clock::now_rfc3339();
        let mut data = self.lock();
        let (mode, strict) = (data.config.conflict_mode, data.config.strict_validation);
        data.accounts
            .entry(account.to_owned())
            .or_insert_with_key(|id| Account::new(id))
            .sync(body, mode, strict, &now)
    }

    /// Bulk delete by external id in `account`.
    pub(crate) fn delete(&self, account: &str, ids: &[String]) -> DeleteOutcome {
        let mut data = self.lock();
        match data.accounts.get_mut(account) {
            Some(acc) => acc.delete_external(ids),
            None => DeleteOutcome {
                total: ids.len(),
                deleted: 0,
                not_found: ids.len(),
            },
        }
    }

    /// `POST /api/leads`: creates one lead (`write_count` 1).
    pub(crate) fn create(&self, account: &str, input: LeadInput) -> Result<StoredLead, LeadError> {
        let now = clock::now_rfc3339();
        let mut data = self.lock();
        data.accounts
            .entry(account.to_owned())
            .or_insert_with_key(|id| Account::new(id))
            .create(input, None, &now, true)
            .cloned()
    }

    /// One lead of `account` by id.
    pub(crate) fn get(&self, account: &str, id: u64) -> Option<StoredLead> {
        self.lock().accounts.get(account)?.get(id).cloned()
    }
}

/// Why the gate stopped a request, before it becomes an [`ApiError`] (a tier's
/// `Retry-After` is known only once the headers' tier is chosen).
enum Gate {
    Refused(ApiError),
    RateLimited(Tier),
}

impl From<Tier> for Gate {
    fn from(tier: Tier) -> Self {
        Gate::RateLimited(tier)
    }
}

fn install_demo_keys(keys: &mut KeyStore) {
    keys.insert(TEST_KEY, KeySpec::default())
        .expect("TEST_KEY is well formed");
    keys.insert(
        NO_SYNC_KEY,
        KeySpec::default().with_scopes(&[scopes::LEADS_VIEW, scopes::LEADS_IMPORT]),
    )
    .expect("NO_SYNC_KEY is well formed");
}
