#pragma once
// Text in messages and log lines: durations, and untrusted text. Servers we have not verified yet (a backend
// before its attestation, a discovery list, a PCCS) choose what their error bodies and
// fields say; quoted into a message, such text must neither flood a log nor carry bytes
// a terminal interprets (line breaks, escape sequences, bidirectional overrides).

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace vp::text {

/// Appends `\xNN` (two lower-case hex digits) for `byte`.
void append_hex_escape(std::string& out, unsigned char byte);

/// `s` reduced to printable ASCII: bytes 0x20–0x7e are kept except the backslash, every
/// other byte becomes `\xNN`, so the result holds no control, non-ASCII or invisible
/// character whatever `s` holds. At most `max` characters are produced (an escape is
/// never split); "…" is appended when `s` was cut.
std::string printable_excerpt(std::string_view s, std::size_t max = 200);

/// printable_excerpt between double quotes; a quote inside is escaped (`\x22`), so the
/// excerpt cannot end early. `max` bounds the text between the quotes.
std::string quoted_excerpt(std::string_view s, std::size_t max = 200);

/// "1234 ms": how durations appear in messages and log lines.
std::string milliseconds_text(std::chrono::milliseconds ms);

/// milliseconds_text of the time since `start` on the steady clock.
std::string elapsed_since(std::chrono::steady_clock::time_point start);

/// `s` with each byte that does not start a valid UTF-8 sequence replaced by U+FFFD
/// (decoding resumes at the next byte). Boost.JSON escapes quotes and control characters
/// but writes string bytes through unchecked, so text from the network (a backend's
/// garbage quoted in a message) must pass here before it goes into a JSON document that
/// strict clients parse.
std::string valid_utf8(std::string_view s);

/// ASCII case-insensitive equality (identifiers such as advisory IDs and version strings
/// that producers spell in either case); bytes outside A-Z compare as they are.
bool ascii_iequals(std::string_view a, std::string_view b) noexcept;

}  // namespace vp::text
