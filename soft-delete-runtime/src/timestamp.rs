//! [`Timestamp`]: the one time type of this crate's API, whichever date and time crate (`chrono`,
//! `time`, or both) the build turns on.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(not(any(feature = "chrono", feature = "time")))]
compile_error!(
    "soft-delete-runtime needs a date and time crate for its timestamps: turn on its feature \
     `chrono` or `time` (or both), the one your models' timestamp fields use, e.g. \
     `soft-delete-runtime = { version = \"0.1\", features = [\"postgres\", \"chrono\"] }`"
);

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// An instant in UTC, to the microsecond: when rows were deleted ([`Deletion`](crate::Deletion)),
/// a batch's stamp ([`Batch::stamp`](crate::collector::Batch::stamp)), a purge's
/// cutoff ([`Purge::before`](crate::purge::Purge::before)).
///
/// The operations that take a time take `impl Into<Timestamp>`: with the feature `chrono`, a
/// `chrono::DateTime` in any time zone or a `NaiveDateTime` (read as UTC); with `time`, an
/// `OffsetDateTime` or a `PrimitiveDateTime` (read as UTC). The ones that return a time return
/// a `Timestamp`, which converts back with [`From`]/[`Into`] (or [`to_chrono`](Self::to_chrono),
/// [`to_time`](Self::to_time)). So a signature does not depend on which features are on, and
/// a crate that turns on `time` does not break another crate of the same build that uses `chrono`.
///
/// Finer times are truncated to the microsecond, the finest every backend stores, so a time
/// written is the time read back. The range is the years -9999 to 9999 (what `time` holds
/// without its `large-dates` feature); a time outside it is clamped to the nearest end.
///
/// ```
/// # #[cfg(feature = "chrono")] {
/// use soft_delete_runtime::Timestamp;
///
/// let at = chrono::DateTime::parse_from_rfc3339("2024-05-01T12:30:00.123456789+02:00").unwrap();
/// let stamp = Timestamp::from(at);
/// assert_eq!(stamp.to_string(), "2024-05-01 10:30:00.123456 UTC");
/// assert_eq!(chrono::NaiveDateTime::from(stamp).to_string(), "2024-05-01 10:30:00.123456");
/// # }
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Microseconds since 1970-01-01 00:00:00 UTC, within [`Self::MIN`]..=[`Self::MAX`].
    micros: i64,
}

impl Timestamp {
    /// The earliest: -9999-01-01 00:00:00 UTC.
    pub const MIN: Timestamp = Timestamp {
        micros: days_from_civil(-9999, 1, 1) * MICROS_PER_DAY,
    };

    /// The latest: 9999-12-31 23:59:59.999999 UTC.
    pub const MAX: Timestamp = Timestamp {
        micros: days_from_civil(10000, 1, 1) * MICROS_PER_DAY - 1,
    };

    /// 1970-01-01 00:00:00 UTC.
    pub const UNIX_EPOCH: Timestamp = Timestamp { micros: 0 };

    /// Now, by this machine's clock, to the microsecond.
    pub fn now() -> Self {
        let micros = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |m| -m),
        };
        Self::from_unix_micros(micros)
    }

    /// The time `micros` microseconds after (or, negative, before) 1970-01-01 00:00:00 UTC,
    /// clamped to [`MIN`](Self::MIN)..=[`MAX`](Self::MAX).
    pub fn from_unix_micros(micros: i64) -> Self {
        Timestamp {
            micros: micros.clamp(Self::MIN.micros, Self::MAX.micros),
        }
    }

    /// Microseconds since 1970-01-01 00:00:00 UTC (negative before).
    pub fn unix_micros(self) -> i64 {
        self.micros
    }

    /// `self + duration` (to the microsecond), or `None` after [`MAX`](Self::MAX).
    pub fn checked_add(self, duration: Duration) -> Option<Self> {
        let micros = self
            .micros
            .checked_add(i64::try_from(duration.as_micros()).ok()?)?;
        (micros <= Self::MAX.micros).then_some(Timestamp { micros })
    }

    /// `self - duration` (to the microsecond), or `None` before [`MIN`](Self::MIN).
    pub fn checked_sub(self, duration: Duration) -> Option<Self> {
        let micros = self
            .micros
            .checked_sub(i64::try_from(duration.as_micros()).ok()?)?;
        (micros >= Self::MIN.micros).then_some(Timestamp { micros })
    }

    /// The same instant as chrono's `DateTime<Utc>`.
    #[cfg(feature = "chrono")]
    #[cfg_attr(docsrs, doc(cfg(feature = "chrono")))]
    pub fn to_chrono(self) -> chrono::DateTime<chrono::Utc> {
        self.into()
    }

    /// The same instant as time's `OffsetDateTime` (in UTC).
    #[cfg(feature = "time")]
    #[cfg_attr(docsrs, doc(cfg(feature = "time")))]
    pub fn to_time(self) -> time::OffsetDateTime {
        self.into()
    }

    /// Days since 1970-01-01 and microseconds into that day.
    fn days_and_micros(self) -> (i64, i64) {
        (
            self.micros.div_euclid(MICROS_PER_DAY),
            self.micros.rem_euclid(MICROS_PER_DAY),
        )
    }
}

/// `self + duration`.
///
/// # Panics
///
/// After [`Timestamp::MAX`], as [`SystemTime`] panics; [`Timestamp::checked_add`] does not.
impl Add<Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, duration: Duration) -> Timestamp {
        self.checked_add(duration)
            .expect("the time is after Timestamp::MAX")
    }
}

/// `self - duration`.
///
/// # Panics
///
/// Before [`Timestamp::MIN`]; [`Timestamp::checked_sub`] does not.
impl Sub<Duration> for Timestamp {
    type Output = Timestamp;

    fn sub(self, duration: Duration) -> Timestamp {
        self.checked_sub(duration)
            .expect("the time is before Timestamp::MIN")
    }
}

/// `2024-05-01 10:30:00.123456 UTC`: always six fractional digits, so times line up in logs.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, micros) = self.days_and_micros();
        let (year, month, day) = civil_from_days(days);
        let seconds = micros / MICROS_PER_SECOND;
        let fraction = micros % MICROS_PER_SECOND;
        if year < 0 {
            write!(f, "-{:04}", -year)?;
        } else {
            write!(f, "{year:04}")?;
        }
        write!(
            f,
            "-{month:02}-{day:02} {:02}:{:02}:{:02}.{fraction:06} UTC",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

/// Days since 1970-01-01 of a date of the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`).
const fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date `days` after 1970-01-01: year, month, day (the inverse of [`days_from_civil`]).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(feature = "chrono")]
mod with_chrono {
    use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

    use super::Timestamp;

    /// The instant, truncated to the microsecond.
    impl<Tz: TimeZone> From<DateTime<Tz>> for Timestamp {
        fn from(at: DateTime<Tz>) -> Self {
            Timestamp::from_unix_micros(at.timestamp_micros())
        }
    }

    /// The time read as UTC, truncated to the microsecond.
    impl From<NaiveDateTime> for Timestamp {
        fn from(at: NaiveDateTime) -> Self {
            Timestamp::from(at.and_utc())
        }
    }

    impl From<Timestamp> for DateTime<Utc> {
        fn from(at: Timestamp) -> Self {
            // Every `Timestamp` is within chrono's range (years -262143 to 262142).
            DateTime::from_timestamp_micros(at.micros)
                .expect("a Timestamp is within chrono's range")
        }
    }

    /// The UTC wall-clock time.
    impl From<Timestamp> for NaiveDateTime {
        fn from(at: Timestamp) -> Self {
            DateTime::<Utc>::from(at).naive_utc()
        }
    }
}

#[cfg(feature = "time")]
mod with_time {
    use time::{OffsetDateTime, PrimitiveDateTime};

    use super::Timestamp;

    /// The instant, truncated to the microsecond.
    impl From<OffsetDateTime> for Timestamp {
        fn from(at: OffsetDateTime) -> Self {
            let micros = at.unix_timestamp_nanos().div_euclid(1000);
            let micros =
                i64::try_from(micros).unwrap_or(if micros < 0 { i64::MIN } else { i64::MAX });
            Timestamp::from_unix_micros(micros)
        }
    }

    /// The time read as UTC, truncated to the microsecond.
    impl From<PrimitiveDateTime> for Timestamp {
        fn from(at: PrimitiveDateTime) -> Self {
            Timestamp::from(at.assume_utc())
        }
    }

    /// In UTC.
    impl From<Timestamp> for OffsetDateTime {
        fn from(at: Timestamp) -> Self {
            // Every `Timestamp` is within time's range (years -9999 to 9999).
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.micros) * 1000)
                .expect("a Timestamp is within time's range")
        }
    }

    /// The UTC wall-clock time.
    impl From<Timestamp> for PrimitiveDateTime {
        fn from(at: Timestamp) -> Self {
            let at = OffsetDateTime::from(at);
            PrimitiveDateTime::new(at.date(), at.time())
        }
    }
}

/// The types this crate binds its own stamps through, and reads the archive log's times into:
/// chrono's when the feature `chrono` is on, else time's. Either gives the same SQL value on
/// PostgreSQL and MySQL; on SQLite, which stores text, chrono writes three or six fractional
/// digits and time as few as needed, and the stamps this crate writes and compares stay in one
/// build's format.
#[cfg(feature = "chrono")]
pub(crate) mod bound {
    /// A timestamp without time zone, in UTC.
    pub(crate) type Naive = chrono::NaiveDateTime;
    /// An instant.
    pub(crate) type Instant = chrono::DateTime<chrono::Utc>;
}

/// See the `chrono` variant.
#[cfg(all(feature = "time", not(feature = "chrono")))]
pub(crate) mod bound {
    /// A timestamp without time zone, in UTC.
    pub(crate) type Naive = time::PrimitiveDateTime;
    /// An instant.
    pub(crate) type Instant = time::OffsetDateTime;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_round_trips_over_the_whole_range() {
        let first = Timestamp::MIN.days_and_micros().0;
        let last = Timestamp::MAX.days_and_micros().0;
        assert_eq!(civil_from_days(first), (-9999, 1, 1));
        assert_eq!(civil_from_days(last), (9999, 12, 31));
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(days_from_civil(2000, 2, 29)), (2000, 2, 29));
        for days in (first..=last).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
    }

    #[test]
    fn display_writes_six_fractional_digits() {
        let at = |micros| Timestamp::from_unix_micros(micros).to_string();
        assert_eq!(at(0), "1970-01-01 00:00:00.000000 UTC");
        assert_eq!(at(1_500_000), "1970-01-01 00:00:01.500000 UTC");
        assert_eq!(at(-1), "1969-12-31 23:59:59.999999 UTC");
        assert_eq!(
            Timestamp::MIN.to_string(),
            "-9999-01-01 00:00:00.000000 UTC"
        );
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31 23:59:59.999999 UTC");
        assert_eq!(
            format!("{:?}", Timestamp::UNIX_EPOCH),
            "Timestamp(1970-01-01 00:00:00.000000 UTC)"
        );
    }

    #[test]
    fn arithmetic_stops_at_the_ends_of_the_range() {
        let day = Duration::from_secs(86_400);
        assert_eq!(Timestamp::MAX.checked_add(Duration::from_micros(1)), None);
        assert_eq!(Timestamp::MIN.checked_sub(Duration::from_micros(1)), None);
        assert_eq!(Timestamp::now().checked_sub(Duration::MAX), None);
        assert_eq!((Timestamp::UNIX_EPOCH + day).unix_micros(), MICROS_PER_DAY);
        assert_eq!((Timestamp::UNIX_EPOCH - day).unix_micros(), -MICROS_PER_DAY);
        assert_eq!(Timestamp::from_unix_micros(i64::MAX), Timestamp::MAX);
        assert_eq!(Timestamp::from_unix_micros(i64::MIN), Timestamp::MIN);
    }

    #[cfg(feature = "chrono")]
    #[test]
    fn chrono_times_convert_both_ways_to_the_microsecond() {
        use chrono::{DateTime, NaiveDateTime, Utc};
        let at = DateTime::parse_from_rfc3339("1969-07-20T20:17:40.123456789-05:00").unwrap();
        let stamp = Timestamp::from(at);
        let back = DateTime::<Utc>::from(stamp);
        assert_eq!(back.to_rfc3339(), "1969-07-21T01:17:40.123456+00:00");
        assert_eq!(
            stamp.to_string(),
            back.format("%Y-%m-%d %H:%M:%S%.6f UTC").to_string()
        );
        assert_eq!(NaiveDateTime::from(stamp), back.naive_utc());
        assert_eq!(Timestamp::from(back.naive_utc()), stamp);
        assert_eq!(Timestamp::from(DateTime::<Utc>::MAX_UTC), Timestamp::MAX);
        assert_eq!(Timestamp::from(DateTime::<Utc>::MIN_UTC), Timestamp::MIN);
        for micros in [
            Timestamp::MIN.micros,
            -1,
            0,
            1,
            1_700_000_000_123_456,
            Timestamp::MAX.micros,
        ] {
            let stamp = Timestamp::from_unix_micros(micros);
            let chrono = stamp
                .to_chrono()
                .format("%Y-%m-%d %H:%M:%S%.6f UTC")
                .to_string();
            assert_eq!(stamp.to_string(), chrono);
        }
    }

    #[cfg(feature = "time")]
    #[test]
    fn time_times_convert_both_ways_to_the_microsecond() {
        use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};
        let at = OffsetDateTime::from_unix_timestamp_nanos(-14_182_939_876_543_211)
            .unwrap()
            .to_offset(UtcOffset::from_hms(-5, 0, 0).unwrap());
        let stamp = Timestamp::from(at);
        assert_eq!(stamp.unix_micros(), -14_182_939_876_544);
        let back = OffsetDateTime::from(stamp);
        assert_eq!(
            back,
            at.replace_nanosecond(at.nanosecond() / 1000 * 1000)
                .unwrap()
        );
        assert_eq!(back.offset(), UtcOffset::UTC);
        let naive = PrimitiveDateTime::from(stamp);
        assert_eq!(naive, PrimitiveDateTime::new(back.date(), back.time()));
        assert_eq!(Timestamp::from(naive), stamp);
        for micros in [
            Timestamp::MIN.micros,
            -1,
            0,
            1,
            1_700_000_000_123_456,
            Timestamp::MAX.micros,
        ] {
            let stamp = Timestamp::from_unix_micros(micros);
            assert_eq!(Timestamp::from(stamp.to_time()), stamp);
        }
    }
}
