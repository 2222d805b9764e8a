//! The condition grammar (Sigma v2.1): `or` < `and` < `not` < `x of` < parentheses.
//!
//! ```text
//! expr    := and ('or' and)*
//! and     := unary ('and' unary)*
//! unary   := 'not' unary | primary
//! primary := '(' expr ')' | quant 'of' target | identifier
//! quant   := NUMBER | 'any' | 'all'
//! target  := 'them' | identifier-pattern (with `*` wildcards)
//! ```
//!
//! Legacy aggregations (`| count() by x > 5`) and `near` are rejected by name.

use crate::error::Reject;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Ident(String),
    /// `N of pattern`, `all of pattern`; `pattern` is `them` or an identifier pattern.
    Of {
        quant: Quant,
        pattern: String,
    },
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quant {
    All,
    AtLeast(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    Open,
    Close,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, Reject> {
    let mut out = Vec::new();
    let mut chars = s.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' => {
                out.push(Tok::Open);
                chars.next();
            }
            ')' => {
                out.push(Tok::Close);
                chars.next();
            }
            '|' => return Err(Reject::Aggregation(s[i..].trim().to_string())),
            _ => {
                let start = i;
                let mut end = i;
                while let Some(&(j, c)) = chars.peek() {
                    if c.is_whitespace() || c == '(' || c == ')' || c == '|' {
                        break;
                    }
                    end = j + c.len_utf8();
                    chars.next();
                }
                out.push(Tok::Word(s[start..end].to_string()));
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    src: &'a str,
}

impl Parser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.toks.get(self.pos) {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.peek_word().is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }

    fn err(&self, msg: &str) -> Reject {
        Reject::Condition(format!("{msg} in `{}`", self.src))
    }

    fn expr(&mut self) -> Result<Cond, Reject> {
        let mut items = vec![self.and()?];
        while self.is_kw("or") {
            self.pos += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, Reject> {
        let mut items = vec![self.unary()?];
        while self.is_kw("and") {
            self.pos += 1;
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one")
        } else {
            Cond::And(items)
        })
    }

    fn unary(&mut self) -> Result<Cond, Reject> {
        if self.is_kw("not") {
            self.pos += 1;
            return Ok(Cond::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, Reject> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.expr()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(self.err("missing `)`"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Close) => Err(self.err("unexpected `)`")),
            None => Err(self.err("unexpected end")),
            Some(Tok::Word(w)) => {
                let lower = w.to_ascii_lowercase();
                if matches!(lower.as_str(), "and" | "or" | "of" | "them") {
                    return Err(self.err(&format!("unexpected `{w}`")));
                }
                if lower == "near" {
                    return Err(Reject::Near(self.src.trim().to_string()));
                }
                if lower.starts_with("count(") || lower.contains("count(") {
                    return Err(Reject::Aggregation(self.src.trim().to_string()));
                }
                let next_is_of = matches!(self.toks.get(self.pos + 1), Some(Tok::Word(n)) if n.eq_ignore_ascii_case("of"));
                if next_is_of {
                    let quant = match lower.as_str() {
                        "all" => Quant::All,
                        "any" => Quant::AtLeast(1),
                        n => match n.parse::<u32>() {
                            Ok(n) if n > 0 => Quant::AtLeast(n),
                            _ => return Err(self.err(&format!("bad quantifier `{w}`"))),
                        },
                    };
                    self.pos += 2;
                    let Some(target) = self.peek_word().map(str::to_string) else {
                        return Err(self.err("missing target after `of`"));
                    };
                    self.pos += 1;
                    let pattern = if target.eq_ignore_ascii_case("them") {
                        "them".to_string()
                    } else {
                        target
                    };
                    return Ok(Cond::Of { quant, pattern });
                }
                self.pos += 1;
                Ok(Cond::Ident(w))
            }
        }
    }
}

/// Parses one condition string.
pub fn parse_condition(s: &str) -> Result<Cond, Reject> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(Reject::Condition("empty condition".into()));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        src: s,
    };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        if p.toks[p.pos..]
            .iter()
            .any(|t| matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case("near")))
        {
            return Err(Reject::Near(s.trim().to_string()));
        }
        return Err(p.err("trailing tokens"));
    }
    Ok(e)
}

/// Whether an identifier matches an `x of` pattern (`*` wildcards; `them` matches all).
/// Identifiers starting with `_` are skipped unless the pattern itself starts with `_`.
pub fn pattern_matches(pattern: &str, ident: &str) -> bool {
    if pattern == "them" {
        return !ident.starts_with('_');
    }
    if ident.starts_with('_') && !pattern.starts_with('_') {
        return false;
    }
    glob_simple(pattern.as_bytes(), ident.as_bytes())
}

fn glob_simple(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi + 1, si));
            pi += 1;
            continue;
        }
        if pi < p.len() && si < s.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
            continue;
        }
        if pi == p.len() && si == s.len() {
            return true;
        }
        match star {
            Some((sp, ss)) if ss < s.len() => {
                star = Some((sp, ss + 1));
                pi = sp;
                si = ss + 1;
            }
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Cond {
        Cond::Ident(s.into())
    }

    #[test]
    fn precedence() {
        assert_eq!(
            parse_condition("a or b and not c").unwrap(),
            Cond::Or(vec![
                id("a"),
                Cond::And(vec![id("b"), Cond::Not(Box::new(id("c")))])
            ])
        );
        assert_eq!(
            parse_condition("(a or b) and c").unwrap(),
            Cond::And(vec![Cond::Or(vec![id("a"), id("b")]), id("c")])
        );
        assert_eq!(
            parse_condition("1 of selection_* and not all of filter*").unwrap(),
            Cond::And(vec![
                Cond::Of {
                    quant: Quant::AtLeast(1),
                    pattern: "selection_*".into()
                },
                Cond::Not(Box::new(Cond::Of {
                    quant: Quant::All,
                    pattern: "filter*".into()
                })),
            ])
        );
    }

    #[test]
    fn legacy_rejected() {
        assert_eq!(
            parse_condition("selection | count() by x > 5")
                .unwrap_err()
                .kind(),
            "aggregation"
        );
        assert_eq!(parse_condition("a near b").unwrap_err().kind(), "near");
        assert_eq!(parse_condition("a and").unwrap_err().kind(), "condition");
        assert_eq!(parse_condition("(a").unwrap_err().kind(), "condition");
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("selection_*", "selection_img"));
        assert!(!pattern_matches("selection_*", "filter"));
        assert!(pattern_matches("them", "sel"));
        assert!(!pattern_matches("them", "_hidden"));
        assert!(!pattern_matches("*", "_hidden"));
        assert!(pattern_matches("_h*", "_hidden"));
    }
}
