//! Random inputs for the spec, duration and time-zone parsers: no input may
//! panic, every error span must lie inside its input, and every spec the
//! validator accepts must be accepted by the engine and give fire times.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::{TimeZone, Utc};

/// Pieces that make inputs look like specs, so the parsers' deep paths run.
const PIECES: &[&str] = &[
    "*",
    "?",
    "/",
    ",",
    "-",
    " ",
    " ",
    " ",
    "0",
    "1",
    "5",
    "7",
    "12",
    "23",
    "29",
    "30",
    "31",
    "59",
    "60",
    "99",
    "JAN",
    "feb",
    "DEC",
    "SUN",
    "mon",
    "Sat",
    "L",
    "W",
    "#",
    "@every",
    "@daily",
    "@hourly",
    "@",
    "CRON_TZ=",
    "TZ=",
    "Europe/Berlin",
    "Asia/Shanghai",
    "UTC",
    "Mars/Base",
    "s",
    "m",
    "h",
    "d",
    "ms",
    "1h30m",
    "\t",
    "é",
    "🕐",
    "\u{0}",
];

/// A small, fast, seeded generator (xorshift64*), so a failing case can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// One input: every other one shaped like a six-field spec, the rest free-form.
    pub fn input(&mut self) -> String {
        if self.below(2) == 0 {
            self.spec_like()
        } else {
            self.free_form()
        }
    }

    fn number(&mut self, (min, max): (usize, usize)) -> usize {
        // Mostly in the field's range, sometimes anywhere.
        if self.below(12) == 0 {
            self.below(100)
        } else {
            min + self.below(max - min + 1)
        }
    }

    fn spec_like(&mut self) -> String {
        let mut fields = Vec::with_capacity(6);
        for range in [(0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 7)] {
            let steps = (1, range.1);
            let field = match self.below(8) {
                0 => "*".to_owned(),
                1 => format!("*/{}", self.number(steps)),
                2 => self.number(range).to_string(),
                3 => format!("{}-{}", self.number(range), self.number(range)),
                4 => format!("{},{}", self.number(range), self.number(range)),
                5 => format!("{}/{}", self.number(range), self.number(steps)),
                6 => ["JAN", "jun", "MON", "fri", "SUN", "?"][self.below(6)].to_owned(),
                _ => format!(
                    "{}-{}/{}",
                    self.number(range),
                    self.number(range),
                    self.number(steps)
                ),
            };
            fields.push(field);
        }
        let prefix = [
            "",
            "",
            "",
            "CRON_TZ=Europe/Berlin ",
            "CRON_TZ=Australia/Lord_Howe ",
            "TZ=America/New_York ",
        ];
        format!("{}{}", prefix[self.below(prefix.len())], fields.join(" "))
    }

    fn free_form(&mut self) -> String {
        let mut out = String::new();
        for _ in 0..self.below(14) {
            if self.below(8) == 0 {
                out.push(char::from_u32(self.below(0x3000) as u32).unwrap_or('?'));
            } else {
                out.push_str(PIECES[self.below(PIECES.len())]);
            }
        }
        out
    }
}

/// Counts of one fuzzing session.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    /// Inputs tried.
    pub cases: u64,
    /// Specs that parsed.
    pub valid_specs: u64,
}

/// Runs `cases` inputs from `seed`; the error names the first failing input.
///
/// # Errors
///
/// A panic, a span outside its input, or a validated spec the engine refuses.
pub fn run(seed: u64, cases: u64) -> Result<Tally, String> {
    let mut rng = Rng::new(seed);
    let mut tally = Tally::default();
    let after = Utc
        .with_ymd_and_hms(2027, 3, 27, 12, 0, 0)
        .single()
        .ok_or("bad start instant")?;
    for _ in 0..cases {
        let input = rng.input();
        tally.cases += 1;
        // Zone suggestions compare with every IANA name: check zones less often.
        let with_zone = tally.cases % 64 == 0;
        let outcome = catch_unwind(AssertUnwindSafe(|| check_one(&input, after, with_zone)));
        match outcome {
            Ok(Ok(valid)) => tally.valid_specs += u64::from(valid),
            Ok(Err(problem)) => return Err(format!("{input:?}: {problem}")),
            Err(_) => return Err(format!("{input:?}: panicked")),
        }
    }
    Ok(tally)
}

fn check_one(input: &str, after: chrono::DateTime<Utc>, with_zone: bool) -> Result<bool, String> {
    let spans_ok = |err: &cronlock_spec::SpecError| {
        let span = err.span();
        let _ = err.report();
        span.start <= span.end && span.end <= input.len().max(1)
    };
    if let Err(err) = cronlock_spec::parse_duration(input)
        && !spans_ok(&err)
    {
        return Err(format!("duration span {:?} outside the input", err.span()));
    }
    if with_zone
        && let Err(err) = cronlock_spec::parse_time_zone(input)
        && !spans_ok(&err)
    {
        return Err(format!("zone span {:?} outside the input", err.span()));
    }
    match cronlock_spec::parse_spec(input) {
        Err(err) if !spans_ok(&err) => Err(format!("spec span {:?} outside the input", err.span())),
        Err(_) => Ok(false),
        Ok(_) => {
            let schedule = cronlock::Schedule::parse(input)
                .map_err(|err| format!("engine refused a valid spec: {err}"))?;
            if let Some(next) = schedule.next_after(after)
                && next <= after
            {
                return Err(format!("next_after gave {next}, not after {after}"));
            }
            Ok(true)
        }
    }
}
