use std::fmt;
use std::ops::Range;

/// A config that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: {message}")]
    Io { file: String, message: String },
    #[error("{0}")]
    Invalid(Located),
}

/// A message pinned to a place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    /// 1-based; 0 when the problem has no single place (e.g. a missing top-level key).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file, self.line, self.column, self.message
            )
        }
    }
}

impl ConfigError {
    pub fn at(text: &str, origin: &str, span: Option<Range<usize>>, message: String) -> Self {
        let (line, column) = span.map_or((0, 0), |s| line_column(text, s.start));
        ConfigError::Invalid(Located {
            file: origin.to_owned(),
            line,
            column,
            message,
        })
    }

    pub(super) fn from_toml(err: &toml::de::Error, text: &str, origin: &str) -> Self {
        // toml's message is already specific ("unknown field `x`, expected one of ...");
        // drop its own trailing newline so ours reads as one line.
        let mut message = err.message().trim_end().to_owned();
        if message == "duplicate key"
            && let Some(key) = err.span().and_then(|s| text.get(s))
        {
            message = format!("`{key}` is defined twice; every table and key may appear once");
        }
        Self::at(text, origin, err.span(), message)
    }

    /// Where the problem is, when it has a place: `(line, column)`, 1-based.
    pub fn location(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Invalid(l) if l.line > 0 => Some((l.line, l.column)),
            _ => None,
        }
    }
}

fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_become_one_based_line_and_column() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_column(text, 0), (1, 1));
        assert_eq!(line_column(text, 6), (2, 1));
        assert_eq!(line_column(text, 11), (2, 6));
    }
}
