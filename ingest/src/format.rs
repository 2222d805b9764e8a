//! Input formats and their CLI names. Which format a file holds is found by [`crate::detect`].

use std::fmt;
use std::str::FromStr;

use canhgac_core::config::InputFormat;

use crate::error::IngestError;
use crate::framing::{Framing, Utf8Policy};

/// An input format (the `--format` of the CLI). Its names are
/// [`canhgac_core::config::InputFormat`]'s: the two enums convert into each other, and each
/// conversion is an exhaustive match, so a format added to one and not the other does not
/// compile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Auto,
    Windows,
    Evtx,
    Suricata,
    Zeek,
    Syslog,
    Cef,
    Web,
    Json,
    Eml,
}

impl Format {
    /// Every format, in [`InputFormat::ALL`]'s order.
    pub const ALL: [Format; InputFormat::ALL.len()] = {
        let mut all = [Format::Auto; InputFormat::ALL.len()];
        let mut i = 0;
        while i < all.len() {
            all[i] = Format::from_input(InputFormat::ALL[i]);
            i += 1;
        }
        all
    };

    /// The CLI name.
    pub fn name(self) -> &'static str {
        InputFormat::from(self).name()
    }

    const fn from_input(f: InputFormat) -> Format {
        match f {
            InputFormat::Auto => Format::Auto,
            InputFormat::Windows => Format::Windows,
            InputFormat::Evtx => Format::Evtx,
            InputFormat::Suricata => Format::Suricata,
            InputFormat::Zeek => Format::Zeek,
            InputFormat::Syslog => Format::Syslog,
            InputFormat::Cef => Format::Cef,
            InputFormat::Web => Format::Web,
            InputFormat::Json => Format::Json,
            InputFormat::Eml => Format::Eml,
        }
    }

    /// Whether records are JSON documents.
    pub fn is_json(self) -> bool {
        matches!(
            self,
            Format::Windows | Format::Suricata | Format::Zeek | Format::Json
        )
    }

    /// The framing used when nothing more is known (JSON formats may also be pretty-printed:
    /// see [`sniff_json_framing`]). `None` for `auto` and `evtx` (a binary file).
    pub fn default_framing(self) -> Option<Framing> {
        match self {
            Format::Auto | Format::Evtx => None,
            Format::Eml => Some(Framing::Whole),
            _ => Some(Framing::Lines),
        }
    }

    /// Text logs pass invalid UTF-8 to their decoder, which replaces it (raw bytes sent by
    /// scanners are evidence); JSON and mail must be valid UTF-8 (mail is bytes: its parser
    /// handles charsets).
    pub fn utf8_policy(self) -> Utf8Policy {
        match self {
            Format::Syslog | Format::Cef | Format::Web | Format::Eml => Utf8Policy::Lossy,
            _ => Utf8Policy::Strict,
        }
    }
}

impl From<InputFormat> for Format {
    fn from(f: InputFormat) -> Format {
        Format::from_input(f)
    }
}

impl From<Format> for InputFormat {
    fn from(f: Format) -> InputFormat {
        match f {
            Format::Auto => InputFormat::Auto,
            Format::Windows => InputFormat::Windows,
            Format::Evtx => InputFormat::Evtx,
            Format::Suricata => InputFormat::Suricata,
            Format::Zeek => InputFormat::Zeek,
            Format::Syslog => InputFormat::Syslog,
            Format::Cef => InputFormat::Cef,
            Format::Web => InputFormat::Web,
            Format::Json => InputFormat::Json,
            Format::Eml => InputFormat::Eml,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = IngestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| IngestError::UnknownFormat(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for f in Format::ALL {
            assert_eq!(f.to_string().parse::<Format>().unwrap(), f);
        }
        assert_eq!("SYSLOG".parse::<Format>().unwrap(), Format::Syslog);
        assert!("xml".parse::<Format>().is_err());
        // The names are core's, and the error that lists them lists exactly those.
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names, InputFormat::NAMES);
        let err = "xml".parse::<Format>().unwrap_err().to_string();
        assert!(
            err.contains(&format!("(expected {})", InputFormat::NAMES.join("|"))),
            "{err}"
        );
    }
}
