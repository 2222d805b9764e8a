//! Text analysis for Vietnamese and English.
//!
//! Vietnamese arrives precomposed (NFC: `ấ` is one code point) or decomposed (NFD: `a` + `̂` +
//! `́`), depending on the keyboard and the source system, and analysts type it with or without
//! diacritics. Two analyzers cover this:
//!
//! - [`FOLDED`] (`vi_folded`): NFC normalisation, word splitting, lowercasing, ASCII folding
//!   (`ấ` → `a`, `đ`/`Đ` → `d`). "tấn công", "tan cong" and "TẤN CÔNG", in NFC or NFD, all
//!   become `tan` `cong`. The default search fields use it.
//! - [`EXACT`] (`vi_exact`): the same without folding, for accent-exact search (`tấn` does not
//!   match `tân` or `tan`): the `*_exact` fields.
//!
//! Keyword fields (agency, host, user, hash, …) use [`KEYWORD`] (`kw_lower`): the whole value as
//! one token, lowercased, so `host:WEB01` finds `web01`.
//!
//! Normalising to NFC before splitting matters: in NFD the combining marks are separate code
//! points, and a splitter that does not know them cuts words in two.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RawTokenizer, RemoveLongFilter, TextAnalyzer, Token,
    TokenStream, Tokenizer,
};
use tantivy::Index;
use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Name of the folding analyzer (NFC, lowercase, ASCII folding).
pub const FOLDED: &str = "vi_folded";
/// Name of the accent-exact analyzer (NFC, lowercase).
pub const EXACT: &str = "vi_exact";
/// Name of the keyword analyzer (one token, lowercase).
pub const KEYWORD: &str = "kw_lower";

/// Longest token kept, in bytes; longer ones (base64 blobs, …) are dropped.
const MAX_TOKEN_BYTES: usize = 80;

/// Splits NFC-normalised text into words: maximal runs of alphanumeric characters and combining
/// marks. Offsets refer to the normalised text.
#[derive(Clone, Default)]
pub struct NfcWordTokenizer {
    normalized: String,
    token: Token,
}

pub struct NfcWordStream<'a> {
    text: &'a str,
    pos: usize,
    token: &'a mut Token,
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining(c)
}

/// Combining diacritical marks (U+0300–U+036F), which survive NFC when no precomposed form
/// exists.
fn is_combining(c: char) -> bool {
    ('\u{0300}'..='\u{036F}').contains(&c)
}

impl Tokenizer for NfcWordTokenizer {
    type TokenStream<'a> = NfcWordStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> NfcWordStream<'a> {
        self.token.reset();
        let text: &'a str = if is_nfc_quick(text.chars()) == IsNormalized::Yes {
            text
        } else {
            self.normalized.clear();
            self.normalized.extend(text.nfc());
            &self.normalized
        };
        NfcWordStream {
            text,
            pos: 0,
            token: &mut self.token,
        }
    }
}

impl TokenStream for NfcWordStream<'_> {
    fn advance(&mut self) -> bool {
        self.token.text.clear();
        let rest = &self.text[self.pos..];
        let Some((start_rel, _)) = rest.char_indices().find(|(_, c)| is_word_char(*c)) else {
            self.pos = self.text.len();
            return false;
        };
        let start = self.pos + start_rel;
        let end = self.text[start..]
            .char_indices()
            .find(|(_, c)| !is_word_char(*c))
            .map_or(self.text.len(), |(i, _)| start + i);
        self.token.offset_from = start;
        self.token.offset_to = end;
        self.token.position = self.token.position.wrapping_add(1);
        self.token.text.push_str(&self.text[start..end]);
        self.pos = end;
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

/// The folding analyzer.
pub fn folded() -> TextAnalyzer {
    TextAnalyzer::builder(NfcWordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The accent-exact analyzer.
pub fn exact() -> TextAnalyzer {
    TextAnalyzer::builder(NfcWordTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .build()
}

/// The keyword analyzer.
pub fn keyword() -> TextAnalyzer {
    TextAnalyzer::builder(RawTokenizer::default())
        .filter(LowerCaser)
        .build()
}

/// Registers the three analyzers on an index (needed on every open: tantivy does not persist
/// tokenizers).
pub fn register(index: &Index) {
    let m = index.tokenizers();
    m.register(FOLDED, folded());
    m.register(EXACT, exact());
    m.register(KEYWORD, keyword());
}

/// The tokens an analyzer produces (for tests and diagnostics).
pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fold(text: &str) -> Vec<String> {
        tokens(&mut folded(), text)
    }

    #[test]
    fn vietnamese_folds_with_and_without_diacritics_nfc_and_nfd() {
        let nfc = "Tấn công thay đổi giao diện";
        let nfd: String = nfc.nfd().collect();
        assert_ne!(nfc, nfd);
        let expected = ["tan", "cong", "thay", "doi", "giao", "dien"];
        assert_eq!(fold(nfc), expected);
        assert_eq!(fold(&nfd), expected);
        assert_eq!(fold("TẤN CÔNG THAY ĐỔI GIAO DIỆN"), expected);
        assert_eq!(fold("tan cong thay doi giao dien"), expected);
        assert_eq!(fold("Đà Nẵng, đường"), ["da", "nang", "duong"]);
    }

    #[test]
    fn exact_keeps_diacritics_and_normalises() {
        let nfd: String = "Tấn công".nfd().collect();
        assert_eq!(tokens(&mut exact(), &nfd), ["tấn", "công"]);
        assert_eq!(tokens(&mut exact(), "TÂN"), ["tân"]);
    }

    #[test]
    fn splits_on_punctuation_and_drops_huge_tokens() {
        assert_eq!(
            fold("evil.example.com/login?u=Đức"),
            ["evil", "example", "com", "login", "u", "duc"]
        );
        let long = "a".repeat(200);
        assert_eq!(fold(&format!("x {long} y")), ["x", "y"]);
        assert!(fold("").is_empty());
        assert!(fold(" ,.; ").is_empty());
    }

    #[test]
    fn keyword_is_one_lowercased_token() {
        assert_eq!(
            tokens(&mut keyword(), "WEB-01.Bo.GOV.vn"),
            ["web-01.bo.gov.vn"]
        );
    }
}
