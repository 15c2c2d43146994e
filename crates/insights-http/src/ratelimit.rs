//! Per-caller rate limits on the data routes (`/v1/`): a token bucket (GCRA, from `governor`)
//! per API key, or per client address while keys are off, so one tenant's flood cannot take
//! the capacity another tenant needs. Health, readiness, metrics, the docs and the dashboard's
//! files are never limited.
//!
//! Every key has its own bucket, built when the key file is read (so their number is the
//! number of keys); addresses share one table, bounded by [`MAX_ADDRESSES`]: full buckets are
//! dropped as the table grows, and a table still full of active addresses is reset rather
//! than grown. IPv6 addresses are limited by their /64, which one host usually holds whole.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};
use std::time::Duration;

use actix_web::http::header::{HeaderName, HeaderValue};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed};
use governor::{NotUntil, Quota, RateLimiter};

/// The most client addresses tracked at once while keys are off.
pub const MAX_ADDRESSES: usize = 65_536;

/// How many address checks pass between sweeps of full buckets.
const SWEEP_EVERY: u64 = 4_096;

type KeyBucket = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;
type AddressBuckets =
    RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>;

/// A sustained rate and the burst allowed above it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests per second, sustained.
    pub per_second: NonZeroU32,
    /// Requests that may come at once after a quiet spell.
    pub burst: NonZeroU32,
}

impl Rate {
    /// Reads `<per second>/<burst>`, as the key file writes a key's own rate.
    pub fn parse(text: &str) -> Result<Rate, String> {
        let bad = || format!("rate {text:?} is not <requests per second>/<burst>, both 1 or more");
        let (per_second, burst) = text.split_once('/').ok_or_else(bad)?;
        Ok(Rate {
            per_second: per_second.parse().map_err(|_| bad())?,
            burst: burst.parse().map_err(|_| bad())?,
        })
    }

    fn quota(self) -> Quota {
        Quota::per_second(self.per_second).allow_burst(self.burst)
    }

    /// The time a full burst takes to refill, in whole seconds (at least 1): the window of
    /// the `RateLimit-Policy` header.
    pub fn window_seconds(self) -> u64 {
        u64::from(self.burst.get())
            .div_ceil(u64::from(self.per_second.get()))
            .max(1)
    }
}

/// Whose bucket a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The API key at this position in the key file.
    Key(usize),
    /// A client address, while keys are off.
    Address(IpAddr),
}

/// What the limiter decided, with what the `RateLimit` headers say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// No limit applies to this subject.
    Unlimited,
    /// Within the limit; `remaining` more requests may come at once.
    Allowed {
        /// The subject's rate.
        rate: Rate,
        /// Requests that may still come at once.
        remaining: u32,
        /// Seconds until the bucket is full again.
        reset_seconds: u64,
    },
    /// Over the limit until `retry_after` has passed.
    Limited {
        /// The subject's rate.
        rate: Rate,
        /// How long until one more request is allowed.
        retry_after: Duration,
    },
}

/// The buckets of every key and address.
pub struct RateLimits {
    /// The rate of addresses, and of keys without one of their own; `None`: unlimited.
    default: Option<Rate>,
    /// Each key's rate and bucket, by its position in the key file; `None`: unlimited.
    keys: Vec<Option<(Rate, KeyBucket)>>,
    /// Replaced whole by a fresh table when every tracked address is active.
    addresses: Option<RwLock<AddressBuckets>>,
    address_checks: AtomicU64,
    clock: DefaultClock,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("default", &self.default)
            .field("keys", &self.keys.len())
            .finish()
    }
}

impl RateLimits {
    /// Limits with `default` for addresses and for keys without a rate of their own;
    /// `key_rates` holds each key's own rate, by its position in the key file.
    pub fn new(default: Option<Rate>, key_rates: &[Option<Rate>]) -> RateLimits {
        let keys = key_rates
            .iter()
            .map(|own| {
                own.or(default)
                    .map(|rate| (rate, RateLimiter::direct(rate.quota()).with_middleware()))
            })
            .collect();
        RateLimits {
            default,
            keys,
            addresses: default.map(|rate| RwLock::new(address_buckets(rate))),
            address_checks: AtomicU64::new(0),
            clock: DefaultClock::default(),
        }
    }

    /// Draws one request from the subject's bucket.
    pub fn check(&self, subject: Subject) -> Decision {
        match subject {
            Subject::Key(index) => match self.keys.get(index).and_then(Option::as_ref) {
                None => Decision::Unlimited,
                Some((rate, bucket)) => self.decide(*rate, bucket.check()),
            },
            Subject::Address(address) => {
                let (Some(rate), Some(table)) = (self.default, &self.addresses) else {
                    return Decision::Unlimited;
                };
                self.keep_bounded(rate, table);
                let buckets = table.read().unwrap_or_else(PoisonError::into_inner);
                self.decide(rate, buckets.check_key(&network_of(address)))
            }
        }
    }

    /// How many addresses have a bucket now.
    pub fn tracked_addresses(&self) -> usize {
        self.addresses.as_ref().map_or(0, |table| {
            table.read().unwrap_or_else(PoisonError::into_inner).len()
        })
    }

    /// Sweeps full buckets now and then, and whenever the table is full; a table still full
    /// after the sweep holds only active addresses (more clients than one service expects,
    /// or an attack from many addresses, which per-address limits cannot stop anyway), and
    /// is replaced by an empty one so that memory stays bounded.
    fn keep_bounded(&self, rate: Rate, table: &RwLock<AddressBuckets>) {
        let checks = self.address_checks.fetch_add(1, Ordering::Relaxed);
        let full = || table.read().unwrap_or_else(PoisonError::into_inner).len() >= MAX_ADDRESSES;
        if !checks.is_multiple_of(SWEEP_EVERY) && !full() {
            return;
        }
        let mut buckets = table.write().unwrap_or_else(PoisonError::into_inner);
        buckets.retain_recent();
        if buckets.len() >= MAX_ADDRESSES {
            *buckets = address_buckets(rate);
        }
        buckets.shrink_to_fit();
    }

    fn decide(
        &self,
        rate: Rate,
        outcome: Result<
            governor::middleware::StateSnapshot,
            NotUntil<<DefaultClock as Clock>::Instant>,
        >,
    ) -> Decision {
        match outcome {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = rate.burst.get().saturating_sub(remaining);
                Decision::Allowed {
                    rate,
                    remaining,
                    reset_seconds: u64::from(missing).div_ceil(u64::from(rate.per_second.get())),
                }
            }
            Err(not_until) => Decision::Limited {
                rate,
                retry_after: not_until.wait_time_from(self.clock.now()),
            },
        }
    }
}

/// The `RateLimit-Policy` and `RateLimit` headers of the IETF httpapi draft
/// (draft-ietf-httpapi-ratelimit-headers): the policy's quota (the burst) and window (the
/// time a burst takes to refill), and what remains and when the bucket is full again.
pub fn headers(rate: Rate, remaining: u32, reset_seconds: u64) -> [(HeaderName, HeaderValue); 2] {
    let policy = format!("\"burst\";q={};w={}", rate.burst, rate.window_seconds());
    let state = format!("\"burst\";r={remaining};t={reset_seconds}");
    // Both are ASCII digits and punctuation, always valid header values.
    let value = |text: String| HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static(""));
    [
        (HeaderName::from_static("ratelimit-policy"), value(policy)),
        (HeaderName::from_static("ratelimit"), value(state)),
    ]
}

fn address_buckets(rate: Rate) -> AddressBuckets {
    RateLimiter::keyed(rate.quota()).with_middleware()
}

/// The address a bucket belongs to: an IPv6 address's /64, any other address itself.
fn network_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(bits))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }
    }

    fn check_parse(text: &str, expected: Result<Rate, ()>) {
        assert_eq!(Rate::parse(text).map_err(drop), expected, "{text}");
    }

    #[test]
    fn rates_read_as_per_second_and_burst() {
        check_parse("5/10", Ok(rate(5, 10)));
        check_parse("1/1", Ok(rate(1, 1)));
        check_parse("0/10", Err(()));
        check_parse("5/0", Err(()));
        check_parse("5", Err(()));
        check_parse("5/x", Err(()));
        check_parse("-1/5", Err(()));
        check_parse("99999999999/5", Err(()));
    }

    #[test]
    fn windows_are_the_time_a_burst_takes_to_refill() {
        assert_eq!(rate(5, 10).window_seconds(), 2);
        assert_eq!(rate(10, 5).window_seconds(), 1);
        assert_eq!(rate(3, 10).window_seconds(), 4);
    }

    #[test]
    fn a_burst_passes_then_the_next_request_waits() {
        let limits = RateLimits::new(Some(rate(1, 3)), &[None]);
        for expected_remaining in [2, 1, 0] {
            match limits.check(Subject::Key(0)) {
                Decision::Allowed { remaining, .. } => assert_eq!(remaining, expected_remaining),
                other => panic!("{other:?}"),
            }
        }
        match limits.check(Subject::Key(0)) {
            Decision::Limited { retry_after, .. } => {
                assert!(retry_after > Duration::ZERO && retry_after <= Duration::from_secs(1));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn each_key_and_each_network_has_its_own_bucket() {
        let limits = RateLimits::new(Some(rate(1, 1)), &[None, Some(rate(1, 2)), None]);
        assert!(matches!(
            limits.check(Subject::Key(0)),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limits.check(Subject::Key(0)),
            Decision::Limited { .. }
        ));
        // Another key is untouched by the first one's flood, and has its own burst.
        assert!(matches!(
            limits.check(Subject::Key(1)),
            Decision::Allowed { remaining: 1, .. }
        ));
        assert!(matches!(
            limits.check(Subject::Key(2)),
            Decision::Allowed { .. }
        ));
        let here: IpAddr = "2001:db8::1".parse().unwrap();
        let same_network: IpAddr = "2001:db8::2".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        assert!(matches!(
            limits.check(Subject::Address(here)),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limits.check(Subject::Address(same_network)),
            Decision::Limited { .. }
        ));
        assert!(matches!(
            limits.check(Subject::Address(elsewhere)),
            Decision::Allowed { .. }
        ));
    }

    #[test]
    fn without_rates_nothing_is_limited() {
        let limits = RateLimits::new(None, &[None, Some(rate(1, 1))]);
        for _ in 0..10 {
            assert_eq!(limits.check(Subject::Key(0)), Decision::Unlimited);
            assert_eq!(
                limits.check(Subject::Address("10.0.0.1".parse().unwrap())),
                Decision::Unlimited
            );
        }
        // A key's own rate applies even when there is no default.
        assert!(matches!(
            limits.check(Subject::Key(1)),
            Decision::Allowed { .. }
        ));
        assert!(matches!(
            limits.check(Subject::Key(1)),
            Decision::Limited { .. }
        ));
    }

    #[test]
    fn the_address_table_stays_bounded() {
        let limits = RateLimits::new(Some(rate(1, 1)), &[]);
        for index in 0..(MAX_ADDRESSES as u32 + 10_000) {
            let address = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + index));
            limits.check(Subject::Address(address));
        }
        assert!(limits.tracked_addresses() <= MAX_ADDRESSES);
    }

    #[test]
    fn mapped_ipv4_is_its_own_address_and_ipv6_keeps_its_prefix() {
        let check = |text: &str, expected: &str| {
            assert_eq!(
                network_of(text.parse().unwrap()),
                expected.parse::<IpAddr>().unwrap()
            );
        };
        check("10.1.2.3", "10.1.2.3");
        check("::ffff:10.1.2.3", "10.1.2.3");
        check("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::");
    }
}
