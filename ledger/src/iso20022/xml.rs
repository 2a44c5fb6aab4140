//! The event walker every ISO 20022 parser here shares: size limit, UTF-8 only, no DOCTYPE, no
//! entities beyond the five predefined ones and character references, exactly one root
//! `Document` in the expected namespace, and a stack of element names with the positions of
//! their start tags. Handlers see each element open and close (with its text) and decide.

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};
use tranche_audit::Code;

use super::{check_size, Iso20022Error, Position};

/// The namespace every ISO 20022 message shares before its message identifier.
const ISO_NS: &str = "urn:iso:std:iso:20022:tech:xsd:";

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The deepest nesting read. ISO 20022 messages nest some 15 levels (supplementary data a few
/// more); the limit keeps a file of nothing but start tags from costing memory per level.
const MAX_DEPTH: usize = 100;

/// Repeating elements: their paths carry a 1-based index (`Ntry[3]`) so that an error names
/// the very entry.
const REPEATED: [&str; 10] = [
    "Stmt",
    "Bal",
    "Ntry",
    "NtryDtls",
    "TxDtls",
    "PmtInf",
    "CdtTrfTxInf",
    "OrgnlPmtInfAndSts",
    "TxInfAndSts",
    "StsRsnInf",
];

/// Which message a parser reads.
#[derive(Debug)]
pub(super) struct Spec {
    /// The message identifier without its version, e.g. `camt.053.001`.
    pub message: &'static str,
    /// The versions accepted (`"09"`); empty for any two-digit version.
    pub versions: &'static [&'static str],
    /// The message element under `Document`, e.g. `BkToCstmrStmt`.
    pub element: &'static str,
    /// How errors name what was expected, e.g. `camt.053.001.*`.
    pub expected: &'static str,
}

/// What a parser does with the elements the walker reads.
pub(super) trait Handler {
    /// An element opened; `ctx` holds its path (itself included).
    fn start(&mut self, ctx: &mut Ctx<'_>, element: &BytesStart<'_>) -> Result<(), Iso20022Error>;
    /// An element closed; `text` is its character data since its last child (raw, untrimmed).
    fn end(&mut self, ctx: &mut Ctx<'_>, text: &str) -> Result<(), Iso20022Error>;
}

#[derive(Debug)]
struct Frame {
    name: String,
    /// 1-based among same-name siblings for [`REPEATED`] names, 0 otherwise.
    index: u32,
    /// Byte offset of the start tag in the whole input.
    start: u64,
    /// How many children of each [`REPEATED`] name this element has opened so far.
    counts: [u32; REPEATED.len()],
}

/// Turns byte offsets into lines and columns. Offsets asked in increasing order cost one pass
/// over the file in all; an earlier offset restarts from the top.
#[derive(Debug)]
struct LineIndex<'a> {
    input: &'a [u8],
    byte: usize,
    line: u64,
    column: u64,
}

impl<'a> LineIndex<'a> {
    fn new(input: &'a [u8]) -> Self {
        LineIndex {
            input,
            byte: 0,
            line: 1,
            column: 1,
        }
    }

    fn position(&mut self, byte: u64) -> Position {
        let target = usize::try_from(byte).map_or(self.input.len(), |b| b.min(self.input.len()));
        if target < self.byte {
            *self = LineIndex::new(self.input);
        }
        // Count characters, not bytes: UTF-8 continuation bytes do not start one.
        let chars = |b: &[u8]| b.iter().filter(|&&c| c & 0xC0 != 0x80).count() as u64;
        let segment = &self.input[self.byte..target];
        match segment.iter().rposition(|&b| b == b'\n') {
            Some(last) => {
                self.line += segment.iter().filter(|&&b| b == b'\n').count() as u64;
                self.column = 1 + chars(&segment[last + 1..]);
            }
            None => self.column += chars(segment),
        }
        self.byte = target;
        Position {
            line: self.line,
            column: self.column,
            byte: target as u64,
        }
    }
}

/// The walker's state as handlers see it: the open elements and where they start.
#[derive(Debug)]
pub(super) struct Ctx<'a> {
    frames: Vec<Frame>,
    depth: usize,
    lines: LineIndex<'a>,
}

impl<'a> Ctx<'a> {
    fn new(input: &'a [u8]) -> Self {
        Ctx {
            frames: Vec::with_capacity(16),
            depth: 0,
            lines: LineIndex::new(input),
        }
    }

    fn push(&mut self, name: &str, start: u64) {
        let rep = REPEATED.iter().position(|r| *r == name);
        let index = match (rep, self.depth.checked_sub(1)) {
            (Some(i), Some(parent)) => {
                let count = &mut self.frames[parent].counts[i];
                *count = count.saturating_add(1);
                *count
            }
            (Some(_), None) => 1,
            (None, _) => 0,
        };
        if self.frames.len() == self.depth {
            self.frames.push(Frame {
                name: String::new(),
                index: 0,
                start: 0,
                counts: [0; REPEATED.len()],
            });
        }
        let frame = &mut self.frames[self.depth];
        frame.name.clear();
        frame.name.push_str(name);
        frame.index = index;
        frame.start = start;
        frame.counts = [0; REPEATED.len()];
        self.depth += 1;
    }

    fn pop(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// How many elements are open (the root is depth 1).
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The open elements' names, root first.
    fn names(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator {
        self.frames[..self.depth].iter().map(|f| f.name.as_str())
    }

    /// True when the open elements below the first `base` are exactly `pattern`.
    pub fn rel(&self, base: usize, pattern: &[&str]) -> bool {
        self.depth == base + pattern.len()
            && self
                .names()
                .skip(base)
                .rev()
                .eq(pattern.iter().rev().copied())
    }

    /// True when the open elements are exactly `pattern`, root first.
    pub fn is(&self, pattern: &[&str]) -> bool {
        self.rel(0, pattern)
    }

    /// The name of the innermost open element.
    pub fn name(&self) -> &str {
        self.depth
            .checked_sub(1)
            .map_or("", |d| self.frames[d].name.as_str())
    }

    /// The path of the element at `depth` (`Document/BkToCstmrStmt/Stmt[1]/Ntry[3]`).
    pub fn path_at(&self, depth: usize) -> String {
        let mut path = String::with_capacity(depth * 12);
        for (i, frame) in self.frames[..depth.min(self.depth)].iter().enumerate() {
            if i > 0 {
                path.push('/');
            }
            path.push_str(&frame.name);
            if frame.index > 0 {
                path.push_str(&format!("[{}]", frame.index));
            }
        }
        path
    }

    /// The path of the innermost open element.
    pub fn path(&self) -> String {
        self.path_at(self.depth)
    }

    /// The path of a child `name` of the element at `depth`.
    pub fn child_path(&self, depth: usize, name: &str) -> String {
        format!("{}/{name}", self.path_at(depth))
    }

    /// The byte offset of the start tag of the element at `depth`.
    pub fn start_at(&self, depth: usize) -> u64 {
        depth
            .checked_sub(1)
            .and_then(|d| self.frames.get(d))
            .map_or(0, |f| f.start)
    }

    /// The line and column of a byte offset.
    pub fn position_of(&mut self, byte: u64) -> Position {
        self.lines.position(byte)
    }

    /// Where the element at `depth` starts.
    pub fn position_at(&mut self, depth: usize) -> Position {
        let byte = self.start_at(depth);
        self.position_of(byte)
    }

    /// Where the innermost open element starts.
    pub fn position(&mut self) -> Position {
        self.position_at(self.depth)
    }

    /// A bad value in the innermost open element.
    pub fn invalid(&mut self, code: Code, detail: impl Into<String>) -> Iso20022Error {
        Iso20022Error::InvalidValue {
            path: self.path(),
            position: Some(self.position()),
            code,
            detail: detail.into(),
        }
    }

    /// The element at `depth` lacks its child `name`.
    pub fn missing(&mut self, depth: usize, name: &str) -> Iso20022Error {
        let parent = self.frames[..depth.min(self.depth)]
            .last()
            .map_or("", |f| f.name.as_str());
        let detail = format!("<{parent}> has no <{name}>");
        Iso20022Error::MissingElement {
            path: self.child_path(depth, name),
            position: Some(self.position_at(depth)),
            detail,
        }
    }

    /// A malformed-XML error at a byte offset.
    fn malformed(&mut self, byte: u64, detail: impl Into<String>) -> Iso20022Error {
        Iso20022Error::MalformedXml {
            position: self.position_of(byte),
            detail: detail.into(),
        }
    }
}

/// The value of the attribute `name` (unprefixed) of an element, entity references resolved.
pub(super) fn attribute(
    ctx: &mut Ctx<'_>,
    element: &BytesStart<'_>,
    name: &str,
) -> Result<Option<String>, Iso20022Error> {
    for attr in element.attributes() {
        let attr = attr.map_err(|e| {
            let byte = ctx.start_at(ctx.depth());
            ctx.malformed(byte, format!("bad attribute: {e}"))
        })?;
        if attr.key.as_ref() == name.as_bytes() {
            let value = attr
                .normalized_value(XmlVersion::Implicit1_0)
                .map_err(|e| {
                    let byte = ctx.start_at(ctx.depth());
                    ctx.malformed(byte, format!("bad attribute {name}: {e}"))
                })?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

/// The required attribute `name` of the innermost open element.
pub(super) fn required_attribute(
    ctx: &mut Ctx<'_>,
    element: &BytesStart<'_>,
    name: &str,
) -> Result<String, Iso20022Error> {
    match attribute(ctx, element, name)? {
        Some(v) => Ok(v),
        None => Err(Iso20022Error::MissingElement {
            path: format!("{}/@{name}", ctx.path()),
            position: Some(ctx.position()),
            detail: format!("<{}> has no {name} attribute", ctx.name()),
        }),
    }
}

/// Checks the root: `Document` in the namespace of `spec`. Returns the version (`"08"`).
fn check_root(
    ctx: &mut Ctx<'_>,
    element: &BytesStart<'_>,
    spec: &Spec,
    byte: u64,
) -> Result<String, Iso20022Error> {
    let qname = element.name();
    let local = String::from_utf8_lossy(element.local_name().as_ref()).into_owned();
    let wrong = |ctx: &mut Ctx<'_>, found: String| Iso20022Error::WrongMessage {
        position: ctx.position_of(byte),
        expected: spec.expected,
        found,
    };
    if local != "Document" {
        return Err(wrong(
            ctx,
            format!("a <{local}> root element, not <Document>"),
        ));
    }
    let key = match qname.prefix() {
        Some(prefix) => format!("xmlns:{}", String::from_utf8_lossy(prefix.as_ref())),
        None => "xmlns".to_string(),
    };
    let Some(namespace) = attribute(ctx, element, &key)? else {
        return Err(wrong(ctx, "a <Document> without its namespace".into()));
    };
    let message = namespace.strip_prefix(ISO_NS).unwrap_or(&namespace);
    let version = message
        .strip_prefix(spec.message)
        .and_then(|rest| rest.strip_prefix('.'))
        .filter(|v| v.len() == 2 && v.bytes().all(|b| b.is_ascii_digit()))
        .filter(|v| spec.versions.is_empty() || spec.versions.contains(v));
    match version {
        Some(v) if namespace.starts_with(ISO_NS) => Ok(v.to_string()),
        _ => Err(wrong(ctx, format!("the namespace {namespace:?}"))),
    }
}

/// Reads `input` as the message `spec` describes, handing its elements to `handler`. Returns
/// the message version (`"08"` for `camt.053.001.08`).
pub(super) fn walk<H: Handler>(
    input: &[u8],
    spec: &Spec,
    handler: &mut H,
) -> Result<String, Iso20022Error> {
    check_size(input)?;
    let shift = if input.starts_with(UTF8_BOM) {
        UTF8_BOM.len() as u64
    } else {
        0
    };
    let body = input.strip_prefix(UTF8_BOM).unwrap_or(input);
    let mut reader = Reader::from_reader(body);
    {
        let config = reader.config_mut();
        config.expand_empty_elements = true;
        config.check_end_names = true;
        config.trim_text(false);
    }
    let mut ctx = Ctx::new(input);
    let mut buf = Vec::with_capacity(1024);
    let mut text = String::new();
    let mut version: Option<String> = None;
    let mut root_closed = false;
    loop {
        let before = reader.buffer_position() + shift;
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(e) => return Err(ctx.malformed(reader.error_position() + shift, e.to_string())),
        };
        match event {
            Event::Decl(decl) => {
                if let Some(encoding) = decl.encoding() {
                    let encoding = encoding.map_err(|e| ctx.malformed(before, e.to_string()))?;
                    let encoding = String::from_utf8_lossy(&encoding).into_owned();
                    if !encoding.eq_ignore_ascii_case("utf-8")
                        && !encoding.eq_ignore_ascii_case("utf8")
                    {
                        return Err(Iso20022Error::UnsupportedEncoding {
                            position: ctx.position_of(before),
                            encoding,
                        });
                    }
                }
            }
            Event::DocType(_) => {
                return Err(Iso20022Error::DoctypeRefused {
                    position: ctx.position_of(before),
                })
            }
            Event::Start(element) => {
                if ctx.depth() >= MAX_DEPTH {
                    return Err(Iso20022Error::InvalidValue {
                        path: "file".into(),
                        position: Some(ctx.position_of(before)),
                        code: Code::TooDeep,
                        detail: format!(
                            "elements nest deeper than {MAX_DEPTH} levels; ISO 20022 messages never do"
                        ),
                    });
                }
                if ctx.depth() == 0 {
                    if root_closed {
                        return Err(ctx.malformed(before, "a second root element"));
                    }
                    version = Some(check_root(&mut ctx, &element, spec, before)?);
                }
                // Well-formed attributes on every element, read or not.
                for attr in element.attributes() {
                    attr.map_err(|e| ctx.malformed(before, format!("bad attribute: {e}")))?;
                }
                let local = std::str::from_utf8(element.local_name().into_inner())
                    .map_err(|e| ctx.malformed(before, e.to_string()))?;
                ctx.push(local, before);
                if ctx.depth() == 2 && ctx.name() != spec.element {
                    return Err(Iso20022Error::WrongMessage {
                        position: ctx.position(),
                        expected: spec.expected,
                        found: format!("<{}> under <Document>", ctx.name()),
                    });
                }
                text.clear();
                handler.start(&mut ctx, &element)?;
            }
            Event::End(_) => {
                handler.end(&mut ctx, &text)?;
                text.clear();
                ctx.pop();
                if ctx.depth() == 0 {
                    root_closed = true;
                }
            }
            Event::Empty(_) => {
                // `expand_empty_elements` turns every `<a/>` into a start and an end.
                return Err(ctx.malformed(before, "unexpected empty element event"));
            }
            Event::Text(t) => {
                let s = t
                    .decode()
                    .map_err(|e| ctx.malformed(before, e.to_string()))?;
                if ctx.depth() > 0 {
                    text.push_str(&s);
                } else if !s.trim().is_empty() {
                    return Err(ctx.malformed(before, "text outside the root element"));
                }
            }
            Event::CData(t) => {
                let s = t
                    .decode()
                    .map_err(|e| ctx.malformed(before, e.to_string()))?;
                if ctx.depth() == 0 {
                    return Err(ctx.malformed(before, "CDATA outside the root element"));
                }
                text.push_str(&s);
            }
            Event::GeneralRef(r) => {
                if ctx.depth() == 0 {
                    return Err(ctx.malformed(before, "a reference outside the root element"));
                }
                match r.resolve_char_ref() {
                    Ok(Some(c)) if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {
                        return Err(ctx.malformed(
                            before,
                            format!(
                                "the character reference &{}; is a control character",
                                String::from_utf8_lossy(&r)
                            ),
                        ))
                    }
                    Ok(Some(c)) => text.push(c),
                    Ok(None) => {
                        let name = String::from_utf8_lossy(&r).into_owned();
                        match resolve_predefined_entity(&name) {
                            Some(s) => text.push_str(s),
                            None => {
                                return Err(ctx.malformed(
                                    before,
                                    format!("undeclared entity &{name};: only the five predefined entities and character references are read, never declared or external ones"),
                                ))
                            }
                        }
                    }
                    Err(e) => return Err(ctx.malformed(before, e.to_string())),
                }
            }
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => {
                if ctx.depth() > 0 {
                    let detail = format!("the file ends inside <{}>", ctx.name());
                    return Err(ctx.malformed(before, detail));
                }
                break;
            }
        }
        buf.clear();
    }
    match version {
        Some(v) if root_closed => Ok(v),
        _ => Err(Iso20022Error::MalformedXml {
            position: ctx.position_of(0),
            detail: "no root element".into(),
        }),
    }
}
