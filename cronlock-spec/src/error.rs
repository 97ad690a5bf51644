use std::fmt;
use std::ops::Range;

/// One of the six fields of a cron spec, in the order they are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Seconds, 0-59.
    Second,
    /// Minutes, 0-59.
    Minute,
    /// Hours, 0-23.
    Hour,
    /// Day of the month, 1-31.
    DayOfMonth,
    /// Month, 1-12 or `JAN`-`DEC`.
    Month,
    /// Day of the week, 0-7 or `SUN`-`SAT` (0 and 7 are Sunday).
    DayOfWeek,
}

impl Field {
    /// The six fields in the order a spec lists them.
    pub const ALL: [Field; 6] = [
        Field::Second,
        Field::Minute,
        Field::Hour,
        Field::DayOfMonth,
        Field::Month,
        Field::DayOfWeek,
    ];

    /// The field's name as error messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            Field::Second => "second",
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        }
    }

    /// The smallest value the field accepts.
    pub fn min(self) -> u8 {
        match self {
            Field::DayOfMonth | Field::Month => 1,
            _ => 0,
        }
    }

    /// The largest value the field accepts when written (7 is Sunday in day-of-week).
    pub fn max(self) -> u8 {
        match self {
            Field::Second | Field::Minute => 59,
            Field::Hour => 23,
            Field::DayOfMonth => 31,
            Field::Month => 12,
            Field::DayOfWeek => 7,
        }
    }

    /// The largest value `*` and `N/step` reach: day-of-week stops at Saturday.
    pub(crate) fn wildcard_max(self) -> u8 {
        match self {
            Field::DayOfWeek => 6,
            other => other.max(),
        }
    }

    /// The allowed range as error messages spell it.
    pub fn allowed(self) -> &'static str {
        match self {
            Field::Second | Field::Minute => "0-59",
            Field::Hour => "0-23",
            Field::DayOfMonth => "1-31",
            Field::Month => "1-12 or JAN-DEC",
            Field::DayOfWeek => "0-7 or SUN-SAT, 0 and 7 are Sunday",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What kind of mistake a [`SpecError`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpecErrorKind {
    /// Nothing but white space.
    Empty,
    /// Not exactly six fields.
    FieldCount,
    /// A character or token that the grammar does not allow here.
    Syntax,
    /// A value outside its field's range.
    OutOfRange,
    /// A step of zero, or one larger than the field.
    BadStep,
    /// A range whose start is above its end.
    ReversedRange,
    /// A month or day name that does not exist.
    UnknownName,
    /// Syntax of other cron dialects (`L`, `W`, `#`) that this one does not have.
    Unsupported,
    /// A valid spec that matches no instant, ever (`0 0 0 30 2 *`).
    NeverFires,
    /// A time-zone name that is not in the IANA database.
    UnknownTimeZone,
    /// An `@` descriptor that does not exist.
    UnknownDescriptor,
    /// An `@every` interval that is not a whole number of seconds, at least one.
    BadInterval,
    /// A duration such as `90s` or `1h30m` that does not parse.
    BadDuration,
}

/// A mistake in a cron spec, a duration or a time-zone name, with where it is.
///
/// `span` is a byte range into [`SpecError::input`]; [`SpecError::caret`] draws it.
///
/// ```
/// let err = cronlock_spec::parse_spec("0 0 0 * * 8").unwrap_err();
/// assert_eq!(err.to_string(), "day-of-week 8 is out of range (0-7 or SUN-SAT, 0 and 7 are Sunday)");
/// assert_eq!(err.caret(), "0 0 0 * * 8\n          ^");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    kind: SpecErrorKind,
    field: Option<Field>,
    span: Range<usize>,
    message: String,
    hint: Option<String>,
    input: String,
}

impl SpecError {
    pub(crate) fn new(
        kind: SpecErrorKind,
        field: Option<Field>,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> Self {
        SpecError {
            kind,
            field,
            span,
            message: message.into(),
            hint: None,
            input: String::new(),
        }
    }

    pub(crate) fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn with_input(mut self, input: &str) -> Self {
        self.input = input.to_owned();
        self
    }

    /// What kind of mistake this is.
    pub fn kind(&self) -> SpecErrorKind {
        self.kind
    }

    /// The field the mistake is in, when it is inside one field.
    pub fn field(&self) -> Option<Field> {
        self.field
    }

    /// Byte range of the mistake in [`SpecError::input`].
    pub fn span(&self) -> Range<usize> {
        self.span.clone()
    }

    /// The one-line message, also what `Display` prints.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A suggestion for a fix, where one exists.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }

    /// The text that was parsed.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// The input on one line and a caret line under the mistake.
    pub fn caret(&self) -> String {
        let start = self.span.start.min(self.input.len());
        let end = self.span.end.clamp(start, self.input.len());
        let pad = self.input[..start].chars().count();
        let width = self.input[start..end].chars().count().max(1);
        format!("{}\n{}{}", self.input, " ".repeat(pad), "^".repeat(width))
    }

    /// Message, caret and hint on several lines, for logs and terminals.
    pub fn report(&self) -> String {
        let mut out = format!("{}\n{}", self.message, indent(&self.caret(), "    "));
        if let Some(hint) = &self.hint {
            out.push_str("\nhint: ");
            out.push_str(hint);
        }
        out
    }

    /// Moves the span right by `offset` bytes, for a part parsed on its own.
    pub(crate) fn shifted(mut self, offset: usize) -> Self {
        self.span = self.span.start + offset..self.span.end + offset;
        self
    }
}

fn indent(text: &str, prefix: &str) -> String {
    text.lines()
        .map(|line| format!("{prefix}{line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SpecError {}
