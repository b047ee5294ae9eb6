use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// A half-open interval of time `[start, end)`: a quota day or a billing month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Period {
    /// Panics never: `end` before `start` is swapped into order.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Self {
        if end < start {
            Self {
                start: end,
                end: start,
            }
        } else {
            Self { start, end }
        }
    }

    /// The UTC calendar day containing `at`.
    pub fn utc_day(at: DateTime<Utc>) -> Self {
        let start = midnight(at.date_naive());
        Self::new(start, start + chrono::Duration::days(1))
    }

    /// The UTC calendar month containing `at`.
    pub fn utc_month(at: DateTime<Utc>) -> Self {
        let first = NaiveDate::from_ymd_opt(at.year(), at.month(), 1).unwrap_or(at.date_naive());
        let next = if at.month() == 12 {
            NaiveDate::from_ymd_opt(at.year() + 1, 1, 1)
        } else {
            NaiveDate::from_ymd_opt(at.year(), at.month() + 1, 1)
        }
        .unwrap_or(first);
        Self::new(midnight(first), midnight(next))
    }

    /// The first instant in the period.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The first instant after the period (excluded).
    pub fn end(&self) -> DateTime<Utc> {
        self.end
    }

    /// Whether `at` lies in `[start, end)`.
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.start <= at && at < self.end
    }
}

fn midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn day_is_the_utc_calendar_day() {
        let day = Period::utc_day(at("2026-11-27T23:59:59Z"));
        assert_eq!(day.start(), at("2026-11-27T00:00:00Z"));
        assert_eq!(day.end(), at("2026-11-28T00:00:00Z"));
        assert!(day.contains(at("2026-11-27T00:00:00Z")));
        assert!(!day.contains(at("2026-11-28T00:00:00Z")));
    }

    #[test]
    fn month_rolls_over_the_year() {
        let month = Period::utc_month(at("2026-12-31T12:00:00Z"));
        assert_eq!(month.start(), at("2026-12-01T00:00:00Z"));
        assert_eq!(month.end(), at("2027-01-01T00:00:00Z"));
        let feb = Period::utc_month(at("2028-02-29T00:00:00Z"));
        assert_eq!(feb.end(), at("2028-03-01T00:00:00Z"));
    }
}
