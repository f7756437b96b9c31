//! Where a key of the provider file is: YAML paths and their `line:col`.
//!
//! serde gives positions only for its own errors, so every other problem (a JSONPath that does
//! not parse, an id that is not safe, a runtime answer that lacks a value) carries a
//! [`YamlPath`] and is placed here, by one more parse of the source. That parse happens only
//! when an error is rendered, never on the happy path that the panel pays for on every poll.

use std::fmt;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One step down into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

/// A path from the document root to a node, e.g. `order.steps[0].extract.id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct YamlPath(pub Vec<Segment>);

impl YamlPath {
    pub fn root() -> Self {
        Self::default()
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut next = self.0.clone();
        next.push(Segment::Key(key.to_owned()));
        Self(next)
    }

    /// This path extended by a list index.
    pub fn index(&self, index: usize) -> Self {
        let mut next = self.0.clone();
        next.push(Segment::Index(index));
        Self(next)
    }
}

impl fmt::Display for YamlPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineCol {
    pub line: usize,
    pub col: usize,
}

/// Finds the line and column of the node at `path` (of its key, for a mapping entry), or of
/// the deepest part of the path that exists.
pub fn locate(source: &str, path: &YamlPath) -> Option<LineCol> {
    let mut finder = Finder {
        target: path.0.clone(),
        stack: Vec::new(),
        best: None,
    };
    let mut parser = Parser::new_from_str(source);
    // A broken document still yields the positions seen before the break.
    let _ = parser.load(&mut finder, false);
    finder.best.map(|(_, mark)| LineCol {
        line: mark.line(),
        col: mark.col() + 1,
    })
}

enum Frame {
    Mapping {
        key: Option<String>,
        expecting_key: bool,
    },
    Sequence {
        next_index: usize,
    },
}

struct Finder {
    target: Vec<Segment>,
    stack: Vec<(Frame, Option<Segment>)>,
    /// The longest matched prefix of `target` and where it starts.
    best: Option<(usize, Marker)>,
}

impl Finder {
    fn current_path(&self) -> Vec<Segment> {
        self.stack
            .iter()
            .filter_map(|(_, seg)| seg.clone())
            .collect()
    }

    fn consider(&mut self, path: &[Segment], mark: Marker) {
        let matched = path.len();
        if matched <= self.target.len()
            && self.target[..matched] == *path
            && self.best.as_ref().is_none_or(|(len, _)| matched > *len)
        {
            self.best = Some((matched, mark));
        }
    }

    /// Called for every node that is a value (not a mapping key): returns its segment.
    fn next_value_segment(&mut self) -> Option<Segment> {
        match self.stack.last_mut() {
            Some((Frame::Sequence { next_index }, _)) => {
                let seg = Segment::Index(*next_index);
                *next_index += 1;
                Some(seg)
            }
            Some((Frame::Mapping { key, expecting_key }, _)) => {
                *expecting_key = true;
                key.take().map(Segment::Key)
            }
            None => None,
        }
    }
}

impl MarkedEventReceiver for Finder {
    fn on_event(&mut self, event: Event, mark: Marker) {
        match event {
            Event::Scalar(text, ..) => {
                if let Some((Frame::Mapping { key, expecting_key }, _)) = self.stack.last_mut()
                    && *expecting_key
                {
                    *expecting_key = false;
                    *key = Some(text.clone());
                    let mut path = self.current_path();
                    path.push(Segment::Key(text));
                    self.consider(&path, mark);
                    return;
                }
                let seg = self.next_value_segment();
                if let Some(Segment::Index(_)) = seg {
                    let mut path = self.current_path();
                    path.extend(seg);
                    self.consider(&path, mark);
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let seg = self.next_value_segment();
                let mut path = self.current_path();
                path.extend(seg.clone());
                if path.is_empty() || matches!(seg, Some(Segment::Index(_))) {
                    self.consider(&path, mark);
                }
                let frame = if matches!(event, Event::MappingStart(..)) {
                    Frame::Mapping {
                        key: None,
                        expecting_key: true,
                    }
                } else {
                    Frame::Sequence { next_index: 0 }
                };
                self.stack.push((frame, seg));
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
            }
            Event::Alias(_) => {
                self.next_value_segment();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "a: 1\nb:\n  c: [x, y]\n  d:\n    - e: 2\n    - f: 3\n";

    fn at(path: YamlPath) -> (usize, usize) {
        let lc = locate(DOC, &path).expect("found");
        (lc.line, lc.col)
    }

    #[test]
    fn finds_keys_and_items() {
        let root = YamlPath::root();
        assert_eq!(at(root.key("a")), (1, 1));
        assert_eq!(at(root.key("b").key("c")), (3, 3));
        assert_eq!(at(root.key("b").key("c").index(1)), (3, 10));
        assert_eq!(at(root.key("b").key("d").index(1).key("f")), (6, 7));
    }

    #[test]
    fn falls_back_to_the_deepest_existing_key() {
        let root = YamlPath::root();
        assert_eq!(at(root.key("b").key("zzz")), (2, 1));
    }

    #[test]
    fn displays_like_a_path() {
        let path = YamlPath::root()
            .key("order")
            .key("steps")
            .index(0)
            .key("extract");
        assert_eq!(path.to_string(), "order.steps[0].extract");
    }
}
