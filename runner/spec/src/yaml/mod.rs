//! The only module that parses YAML.
//!
//! Values come from `serde_yaml` (YAML 1.2 scalars, anchors, duplicate-key errors); positions
//! come from a second, event-level pass with `yaml-rust2`, whose markers give each key and
//! value a line and column. The two are joined by JSON pointer, so schema errors (which name
//! a JSON pointer) can be shown with a caret under the exact spot.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Span};

mod json;

/// The deepest nesting of mappings and sequences a spec may have. A job spec needs a
/// handful of levels (a raw label schema perhaps twenty); thousands of unclosed brackets
/// would make every pass over the document slow, so they are refused before any of them.
pub const MAX_DEPTH: usize = 64;

/// A parsed YAML document: its value as JSON and where each part of it sits in the text.
#[derive(Debug)]
pub struct YamlDocument {
    /// The document as a JSON value (mapping keys stringified; odd numbers as `null`).
    pub value: serde_json::Value,
    /// Positions by JSON pointer.
    pub spans: SpanIndex,
    /// Numbers JSON cannot hold as written: `.nan`, `.inf`, integers past 64 bits.
    pub odd_numbers: Vec<OddNumber>,
}

/// A number in the spec that JSON (and so a request) cannot carry as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OddNumber {
    /// Where it is.
    pub pointer: String,
    /// How it reads in YAML (`.nan`, `-.inf`, `123456789012345678901`).
    pub text: String,
}

/// Where each key and value of a YAML document is, by JSON pointer (`/labels/sentiment`).
#[derive(Debug, Default, Clone)]
pub struct SpanIndex {
    values: HashMap<String, Span>,
    keys: HashMap<String, Span>,
}

impl SpanIndex {
    /// The span of the value at `pointer`, or of its closest ancestor.
    pub fn value(&self, pointer: &str) -> Span {
        let mut pointer = pointer;
        loop {
            if let Some(span) = self.values.get(pointer) {
                return *span;
            }
            match pointer.rfind('/') {
                Some(cut) => pointer = &pointer[..cut],
                None => return Span::point(1, 1),
            }
        }
    }

    /// The span of the mapping key that holds `pointer`, falling back to the value's span.
    pub fn key(&self, pointer: &str) -> Span {
        self.keys
            .get(pointer)
            .copied()
            .unwrap_or_else(|| self.value(pointer))
    }

    /// Whether a value exists at exactly this pointer.
    pub fn contains(&self, pointer: &str) -> bool {
        self.values.contains_key(pointer)
    }
}

/// Escape one JSON-pointer segment (RFC 6901).
pub fn pointer_segment(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Parse one YAML document into JSON plus spans; a syntax error becomes a diagnostic.
pub fn parse(text: &str) -> Result<YamlDocument, Diagnostic> {
    let mut collector = SpanCollector::new(text);
    collector.collect(text)?;
    let yaml_value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|error| {
        // serde_yaml refuses integers of 65 to 128 bits, saying "as u128": say which number.
        match collector.long_integers.first() {
            Some(odd) if error.to_string().contains("128") => {
                crate::numbers::odd_number(odd, None, &collector.index)
            }
            _ => syntax_error(&error, &collector),
        }
    })?;
    let mut odd_numbers = collector.long_integers;
    let value = json::to_json(&yaml_value, &mut String::new(), &mut odd_numbers);
    Ok(YamlDocument {
        value,
        spans: collector.index,
        odd_numbers,
    })
}

fn syntax_error(error: &serde_yaml::Error, collector: &SpanCollector<'_>) -> Diagnostic {
    let mut span = error
        .location()
        .map_or(Span::point(1, 1), |at| Span::point(at.line(), at.column()));
    // serde_yaml places a duplicate key at its mapping; the event pass knows the key.
    if error.to_string().contains("duplicate entry")
        && let Some(duplicate) = collector.duplicate_keys.first()
    {
        span = *duplicate;
    }
    let message = error.to_string();
    // serde_yaml appends " at line L column C"; the caret already says where.
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_string();
    let help = if message.contains("duplicate entry") {
        "a key may appear only once in a mapping: merge the two entries or rename one"
    } else {
        "check indentation and quoting; a value that starts with `{`, `[`, `*`, `&`, `!`, `|`, `>` or `%` must be quoted"
    };
    Diagnostic::error("yaml-syntax", format!("invalid YAML: {message}"), span).with_help(help)
}

fn too_deep(mark: Marker) -> Diagnostic {
    Diagnostic::error(
        "too-deep",
        format!("the spec nests deeper than {MAX_DEPTH} levels"),
        Span::point(mark.line(), mark.col() + 1),
    )
    .with_help("a spec needs only a few levels: look for unclosed `[` or `{`")
}

enum Frame {
    Mapping {
        pointer: String,
        pending_key: Option<String>,
    },
    Sequence {
        pointer: String,
        next_index: usize,
    },
}

struct SpanCollector<'a> {
    lines: Vec<&'a str>,
    stack: Vec<Frame>,
    index: SpanIndex,
    duplicate_keys: Vec<Span>,
    long_integers: Vec<OddNumber>,
}

impl<'a> SpanCollector<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            lines: text.lines().collect(),
            stack: Vec::new(),
            index: SpanIndex::default(),
            duplicate_keys: Vec::new(),
            long_integers: Vec::new(),
        }
    }

    /// Read the events of the first document. serde_yaml decides what is valid, so a
    /// syntax error here only ends the pass; nesting past [`MAX_DEPTH`] is refused, before
    /// serde_yaml (whose time grows with the square of the nesting) sees the text.
    fn collect(&mut self, text: &str) -> Result<(), Diagnostic> {
        let mut parser = Parser::new_from_str(text);
        loop {
            match parser.next_token() {
                Ok((Event::StreamEnd | Event::DocumentEnd, _)) => return Ok(()),
                Ok((Event::MappingStart(..) | Event::SequenceStart(..), mark))
                    if self.stack.len() >= MAX_DEPTH =>
                {
                    return Err(too_deep(mark));
                }
                Ok((event, mark)) => self.on_event(event, mark),
                // Looking ahead, the scanner stops at its own (higher) nesting limit.
                Err(error) if error.info().contains("recursion limit") => {
                    return Err(too_deep(*error.marker()));
                }
                Err(_) => return Ok(()),
            }
        }
    }

    /// Remember a plain integer too long for 64 bits: YAML reads it as a float, which
    /// would send a rounded number instead of the one written.
    fn note_long_integer(&mut self, pointer: &str, value: &str, style: TScalarStyle) {
        let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
        let is_integer = !digits.is_empty() && digits.bytes().all(|byte| byte.is_ascii_digit());
        if style == TScalarStyle::Plain
            && is_integer
            && value.parse::<i64>().is_err()
            && value.parse::<u64>().is_err()
        {
            self.long_integers.push(OddNumber {
                pointer: pointer.to_string(),
                text: value.to_string(),
            });
        }
    }

    /// Where the next value goes: its pointer, or `None` when the scalar is a mapping key.
    fn next_slot(&mut self) -> Option<String> {
        match self.stack.last_mut() {
            None => Some(String::new()),
            Some(Frame::Mapping {
                pointer,
                pending_key,
            }) => pending_key
                .take()
                .map(|key| format!("{pointer}/{}", pointer_segment(&key))),
            Some(Frame::Sequence {
                pointer,
                next_index,
            }) => {
                let slot = format!("{pointer}/{next_index}");
                *next_index += 1;
                Some(slot)
            }
        }
    }

    fn scalar_span(&self, mark: Marker, value: &str, style: TScalarStyle) -> Span {
        let line = mark.line();
        let column = mark.col() + 1;
        let rest_of_line = self
            .lines
            .get(line.saturating_sub(1))
            .map_or(0, |text| text.chars().count().saturating_sub(column - 1));
        let length = match style {
            TScalarStyle::Plain => value.chars().count(),
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => value.chars().count() + 2,
            _ => 1,
        };
        Span::new(line, column, length.clamp(1, rest_of_line.max(1)))
    }
}

impl MarkedEventReceiver for SpanCollector<'_> {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(value, style, _, tag) => {
                let span = self.scalar_span(mark, &value, style);
                match self.next_slot() {
                    Some(pointer) => {
                        if tag.is_none() {
                            self.note_long_integer(&pointer, &value, style);
                        }
                        self.index.values.insert(pointer, span);
                    }
                    None => {
                        if let Some(Frame::Mapping {
                            pointer,
                            pending_key,
                        }) = self.stack.last_mut()
                        {
                            let key_pointer = format!("{pointer}/{}", pointer_segment(&value));
                            if self.index.keys.insert(key_pointer, span).is_some() {
                                self.duplicate_keys.push(span);
                            }
                            *pending_key = Some(value);
                        }
                    }
                }
            }
            Event::Alias(_) => {
                if let Some(pointer) = self.next_slot() {
                    self.index
                        .values
                        .insert(pointer, Span::new(mark.line(), mark.col() + 1, 1));
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                // A collection used as a mapping key has no pointer; give it a throwaway one.
                let pointer = self.next_slot().unwrap_or_else(|| "/?".to_string());
                self.index
                    .values
                    .insert(pointer.clone(), Span::new(mark.line(), mark.col() + 1, 1));
                self.stack
                    .push(if matches!(event, Event::MappingStart(..)) {
                        Frame::Mapping {
                            pointer,
                            pending_key: None,
                        }
                    } else {
                        Frame::Sequence {
                            pointer,
                            next_index: 0,
                        }
                    });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_keys_and_values() {
        let text = "name: job\nlabels:\n  sentiment:\n    onee_of: [a, b]\n";
        let document = parse(text).unwrap();
        assert_eq!(
            document.spans.key("/labels/sentiment/onee_of"),
            Span::new(4, 5, 7)
        );
        assert_eq!(document.spans.value("/name"), Span::new(1, 7, 3));
        assert_eq!(
            document.spans.value("/labels/sentiment/onee_of/1"),
            Span::new(4, 18, 1)
        );
        // Unknown pointers fall back to the closest ancestor.
        assert_eq!(
            document.spans.value("/labels/sentiment/onee_of/9"),
            document.spans.value("/labels/sentiment/onee_of")
        );
    }

    #[test]
    fn numeric_keys_become_strings() {
        let document = parse("one_of:\n  1: first\n  2: second\n").unwrap();
        assert_eq!(document.value["one_of"]["1"], "first");
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let error = parse("name: [unclosed\nother: 1\n").unwrap_err();
        assert_eq!(error.code, "yaml-syntax");
        assert!(error.span.line >= 1);
    }

    #[test]
    fn deep_nesting_is_refused_before_the_slow_passes() {
        let started = std::time::Instant::now();
        for deep in [
            format!("name: {}", "[".repeat(200_000)),
            format!("name: {}", "{a: ".repeat(200_000)),
            format!("name:\n{}x\n", "- ".repeat(200_000)),
        ] {
            let error = parse(&deep).unwrap_err();
            assert_eq!(error.code, "too-deep");
            assert_eq!(error.message, "the spec nests deeper than 64 levels");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        // Within the scanner's reach, the caret is on the first level too many: the
        // mapping is level 1, so the 64th `[` (column 70) is the 65th.
        let error = parse(&format!("name: {}", "[".repeat(100))).unwrap_err();
        assert_eq!(error.span, Span::point(1, 70));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let error = parse("name: a\nname: b\n").unwrap_err();
        assert!(error.message.contains("duplicate"), "{}", error.message);
        assert_eq!(error.span.line, 2);
    }
}
