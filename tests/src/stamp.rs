//! The time types of the test models, so the integration suite runs with either date and time
//! crate: chrono's with the feature `chrono` (on by default, and under `--all-features`), time's
//! without it (`--no-default-features --features time,...`, as `.ci/test` runs it a second time).
//! The runtime sees the same choice: its `chrono` feature follows this crate's.

use soft_delete_runtime::Timestamp;

/// A timestamp without time zone (`TIMESTAMP`, `DATETIME`), in UTC: chrono's `NaiveDateTime`
/// or time's `PrimitiveDateTime`.
#[cfg(feature = "chrono")]
pub type Stamp = chrono::NaiveDateTime;
/// A timestamp without time zone (`TIMESTAMP`, `DATETIME`), in UTC: chrono's `NaiveDateTime`
/// or time's `PrimitiveDateTime`.
#[cfg(not(feature = "chrono"))]
pub type Stamp = time::PrimitiveDateTime;

/// An instant (`TIMESTAMPTZ`): chrono's `DateTime<Utc>` or time's `OffsetDateTime`.
#[cfg(feature = "chrono")]
pub type Instant = chrono::DateTime<chrono::Utc>;
/// An instant (`TIMESTAMPTZ`): chrono's `DateTime<Utc>` or time's `OffsetDateTime`.
#[cfg(not(feature = "chrono"))]
pub type Instant = time::OffsetDateTime;

/// Now, to the microsecond, as a [`Stamp`].
pub fn now() -> Stamp {
    Timestamp::now().into()
}

/// Now, to the microsecond, as an [`Instant`].
pub fn instant_now() -> Instant {
    Timestamp::now().into()
}

/// A time as a [`Stamp`] (the UTC wall-clock time).
pub fn stamp(at: impl Into<Timestamp>) -> Stamp {
    at.into().into()
}

/// A time as an [`Instant`].
pub fn instant(at: impl Into<Timestamp>) -> Instant {
    at.into().into()
}

/// The UTC time `year-month-day hour:minute:second.micro`.
///
/// # Panics
///
/// On a date or time that does not exist (a test's typo).
pub fn utc(
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    micro: u32,
) -> Timestamp {
    #[cfg(feature = "chrono")]
    let at = chrono::NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_micro_opt(hour, minute, second, micro))
        .expect("a valid date and time")
        .and_utc();
    #[cfg(not(feature = "chrono"))]
    let at = {
        let month = u8::try_from(month)
            .ok()
            .and_then(|m| time::Month::try_from(m).ok())
            .expect("a month");
        let date = time::Date::from_calendar_date(year, month, day as u8).expect("a valid date");
        let time = time::Time::from_hms_micro(hour as u8, minute as u8, second as u8, micro)
            .expect("a valid time");
        time::PrimitiveDateTime::new(date, time)
    };
    Timestamp::from(at)
}
