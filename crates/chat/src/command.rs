//! Reading a chat post as a command to the bot: pure, no I/O.
//!
//! A post is for the bot when it starts with `@{bot_username}` (any case, optionally followed by
//! `:` or `,`), or when it is a direct message to the bot. The first word after that names the
//! command; the words after it are its arguments.

/// What a post asks of the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `create-release <source> <dest>`.
    CreateRelease {
        /// Branch the changes come from.
        source: String,
        /// Branch they go to.
        dest: String,
    },
    /// `releases`: the active releases.
    Releases,
    /// `status <id>`: one release.
    Status(String),
    /// `help`, or nothing after the mention.
    Help,
    /// A known command with the wrong arguments: the usage line to answer with.
    Usage(&'static str),
    /// A word the bot does not know (cut to 40 characters).
    Unknown(String),
}

/// `create-release` with its arguments.
pub const CREATE_USAGE: &str = "create-release <source> <dest>";
/// `status` with its argument.
pub const STATUS_USAGE: &str = "status <release id>";
/// `releases` takes nothing.
pub const RELEASES_USAGE: &str = "releases";

/// Reads `message` as a command to `bot_username`; `None` when the post is not addressed to the
/// bot. `direct` is true for a direct message, where the mention may be left out.
pub fn parse(message: &str, bot_username: &str, direct: bool) -> Option<Command> {
    let text = message.trim();
    let rest = match strip_mention(text, bot_username) {
        Some(rest) => rest,
        None if direct => text,
        None => return None,
    };
    let mut words = rest.split_whitespace();
    let Some(word) = words.next() else {
        return Some(Command::Help);
    };
    let args: Vec<&str> = words.collect();
    let command = match word.to_ascii_lowercase().as_str() {
        "create-release" => match args.as_slice() {
            [source, dest] => Command::CreateRelease {
                source: (*source).to_owned(),
                dest: (*dest).to_owned(),
            },
            _ => Command::Usage(CREATE_USAGE),
        },
        "releases" => match args.as_slice() {
            [] => Command::Releases,
            _ => Command::Usage(RELEASES_USAGE),
        },
        "status" => match args.as_slice() {
            [id] => Command::Status((*id).to_owned()),
            _ => Command::Usage(STATUS_USAGE),
        },
        "help" => Command::Help,
        other => Command::Unknown(other.chars().take(40).collect()),
    };
    Some(command)
}

/// The text after a leading `@bot` mention, if the post starts with one.
fn strip_mention<'a>(text: &'a str, bot_username: &str) -> Option<&'a str> {
    let rest = text.strip_prefix('@')?;
    let name_len = bot_username.len();
    let name = rest.get(..name_len)?;
    if !name.eq_ignore_ascii_case(bot_username) {
        return None;
    }
    let after = &rest[name_len..];
    // `@pusheen2` is someone else; `@pusheen:` and `@pusheen,` are the bot.
    match after.chars().next() {
        None => Some(after),
        Some(c) if c.is_whitespace() => Some(after),
        Some(':' | ',') => Some(&after[1..]),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn create(source: &str, dest: &str) -> Option<Command> {
        Some(Command::CreateRelease {
            source: source.into(),
            dest: dest.into(),
        })
    }

    #[test]
    fn commands_after_a_leading_mention() {
        let cases: &[(&str, Option<Command>)] = &[
            (
                "@pusheen create-release uat master",
                create("uat", "master"),
            ),
            (
                "  @PUSHEEN   Create-Release  feature/x  main ",
                create("feature/x", "main"),
            ),
            ("@pusheen: releases", Some(Command::Releases)),
            (
                "@pusheen, status abc123",
                Some(Command::Status("abc123".into())),
            ),
            ("@pusheen help", Some(Command::Help)),
            ("@pusheen", Some(Command::Help)),
            ("@pusheen\nreleases", Some(Command::Releases)),
            (
                "@pusheen deploy everything",
                Some(Command::Unknown("deploy".into())),
            ),
            (
                "@pusheen create-release uat",
                Some(Command::Usage(CREATE_USAGE)),
            ),
            (
                "@pusheen create-release a b c",
                Some(Command::Usage(CREATE_USAGE)),
            ),
            ("@pusheen status", Some(Command::Usage(STATUS_USAGE))),
            (
                "@pusheen releases now",
                Some(Command::Usage(RELEASES_USAGE)),
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(&parse(message, "pusheen", false), expected, "{message:?}");
        }
    }

    #[test]
    fn posts_not_addressed_to_the_bot_are_ignored() {
        for message in [
            "create-release uat master",
            "hey @pusheen create-release uat master",
            "@pusheen2 releases",
            "@push releases",
            "pusheen releases",
            "",
            "@",
        ] {
            assert_eq!(parse(message, "pusheen", false), None, "{message:?}");
        }
    }

    #[test]
    fn direct_messages_need_no_mention() {
        assert_eq!(parse("releases", "pusheen", true), Some(Command::Releases));
        assert_eq!(
            parse("@pusheen status x1", "pusheen", true),
            Some(Command::Status("x1".into()))
        );
        assert_eq!(parse("   ", "pusheen", true), Some(Command::Help));
    }

    #[test]
    fn unknown_words_are_cut_and_multibyte_names_do_not_panic() {
        let long = format!("@pusheen {}", "x".repeat(100));
        assert_eq!(
            parse(&long, "pusheen", false),
            Some(Command::Unknown("x".repeat(40)))
        );
        assert_eq!(parse("@püsheen releases", "pusheen", false), None);
        assert_eq!(parse("@pü", "pusheen", false), None);
    }
}
