//! Report periods: a month, a quarter, a half-year or a year, each compared with the previous
//! period of the same length (April with March, Q2 with Q1, H1 2022 with H2 2021, 2022 with
//! 2021). Months are yyyymm in Asia/Ho_Chi_Minh, as the index counts them.

use serde::Serialize;

use crate::error::{IndexError, Result};
use crate::stats::{add_months, month_label};

/// A run of whole months: its first month and its length (1, 3, 6 or 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Period {
    /// yyyymm of the first month.
    pub first: u32,
    /// 1 (month), 3 (quarter), 6 (half-year) or 12 (year).
    pub months: u32,
}

impl Period {
    /// One month (yyyymm).
    pub fn month(yyyymm: u32) -> Period {
        Period {
            first: yyyymm,
            months: 1,
        }
    }

    /// Parses `2022-04` (or `202204`), `2022-Q2`, `2022-H1` or `2022`.
    pub fn parse(s: &str) -> Result<Period> {
        let t = s.trim();
        let bad = || {
            IndexError::invalid(
                "period",
                format!("{t:?}: expected YYYY-MM, YYYY-Qn (1-4), YYYY-Hn (1-2) or YYYY"),
            )
        };
        let year = |y: &str| -> Result<u32> {
            match y.parse::<u32>() {
                Ok(v) if y.len() == 4 && v >= 1970 => Ok(v),
                _ => Err(bad()),
            }
        };
        let upper = t.to_ascii_uppercase();
        if let Some((y, rest)) = upper.split_once('-') {
            let y = year(y)?;
            let n = |r: &str, max: u32| -> Result<u32> {
                match r.parse::<u32>() {
                    Ok(v) if (1..=max).contains(&v) && r.len() == 1 => Ok(v),
                    _ => Err(bad()),
                }
            };
            if let Some(q) = rest.strip_prefix('Q') {
                let q = n(q, 4)?;
                return Ok(Period {
                    first: y * 100 + (q - 1) * 3 + 1,
                    months: 3,
                });
            }
            if let Some(h) = rest.strip_prefix('H') {
                let h = n(h, 2)?;
                return Ok(Period {
                    first: y * 100 + (h - 1) * 6 + 1,
                    months: 6,
                });
            }
        }
        if t.len() == 4 {
            return Ok(Period {
                first: year(t)? * 100 + 1,
                months: 12,
            });
        }
        crate::stats::parse_month(t)
            .map(Period::month)
            .map_err(|_| bad())
    }

    /// The last month (yyyymm).
    pub fn last(&self) -> u32 {
        add_months(self.first, i64::from(self.months) - 1)
    }

    /// The months, oldest first.
    pub fn month_list(&self) -> Vec<u32> {
        (0..self.months)
            .map(|k| add_months(self.first, i64::from(k)))
            .collect()
    }

    /// Whether `yyyymm` falls in the period.
    pub fn contains(&self, yyyymm: u32) -> bool {
        yyyymm >= self.first && yyyymm <= self.last()
    }

    /// The period of the same length just before.
    pub fn previous(&self) -> Period {
        Period {
            first: add_months(self.first, -i64::from(self.months)),
            months: self.months,
        }
    }

    /// `2022-04`, `2022-Q2`, `2022-H1` or `2022`: the form [`Period::parse`] reads.
    pub fn label(&self) -> String {
        let (y, m) = (self.first / 100, self.first % 100);
        match self.months {
            3 => format!("{y}-Q{}", (m - 1) / 3 + 1),
            6 => format!("{y}-H{}", (m - 1) / 6 + 1),
            12 => format!("{y}"),
            _ => month_label(self.first),
        }
    }

    /// The file name stem of an issued snapshot: `202204`, `2022q2`, `2022h1`, `2022`.
    pub fn stem(&self) -> String {
        self.label().replace('-', "").to_ascii_lowercase()
    }

    /// The period's name in prose: `April 2022` / `tháng 04/2022`, `Q2 2022` / `quý II/2022`,
    /// `the first half of 2022` / `6 tháng đầu năm 2022`, `2022` / `năm 2022`.
    pub fn name(&self, vi: bool) -> String {
        let (y, m) = (self.first / 100, self.first % 100);
        const EN: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        const ROMAN: [&str; 4] = ["I", "II", "III", "IV"];
        let q = ((m - 1) / 3) as usize;
        let first_half = m <= 6;
        match (self.months, vi) {
            (3, true) => format!("quý {}/{y}", ROMAN[q.min(3)]),
            (3, false) => format!("Q{} {y}", q + 1),
            (6, true) => format!(
                "6 tháng {} năm {y}",
                if first_half { "đầu" } else { "cuối" }
            ),
            (6, false) => format!(
                "the {} half of {y}",
                if first_half { "first" } else { "second" }
            ),
            (12, true) => format!("năm {y}"),
            (12, false) => format!("{y}"),
            (_, true) => format!("tháng {m:02}/{y}"),
            (_, false) => format!("{} {y}", EN[(m.clamp(1, 12) - 1) as usize]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_and_step_back_by_their_length() {
        let p = |s| Period::parse(s).unwrap();
        assert_eq!(p("2022-04"), Period::month(202204));
        assert_eq!(p("202204"), Period::month(202204));
        assert_eq!(p("2022-Q2").month_list(), vec![202204, 202205, 202206]);
        assert_eq!(p("2022-q1").previous().label(), "2021-Q4");
        assert_eq!(p("2022-H1").previous().label(), "2021-H2");
        assert_eq!(p("2022-H2").first, 202207);
        assert_eq!(p("2022").previous().label(), "2021");
        assert_eq!(p("2022").last(), 202212);
        assert_eq!(p("2022-01").previous().label(), "2021-12");
        assert_eq!(p("2022-Q2").stem(), "2022q2");
        assert_eq!(p("2022-04").stem(), "202204");
        for bad in [
            "2022-Q5", "2022-H3", "22", "2022-13", "2022-Q", "abcd", "2022-Q12",
        ] {
            assert!(Period::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(p("2022-04").name(false), "April 2022");
        assert_eq!(p("2022-04").name(true), "tháng 04/2022");
        assert_eq!(p("2022-Q2").name(true), "quý II/2022");
        assert_eq!(p("2022-H2").name(false), "the second half of 2022");
    }
}
