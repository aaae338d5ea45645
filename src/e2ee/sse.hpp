#pragma once
// Server-sent events as a byte stream (WHATWG HTML §9.2.6): the events of a response body
// as its bytes arrive, so each one can be looked at (or transformed) the moment it is
// complete and none waits for the next read. Pure.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vp::e2ee {

/// Splits a stream into events. An event ends at a blank line; lines end with CRLF, LF or
/// CR. Bytes go in as they are read; complete events come out byte-exact (their
/// terminating blank line included), in order. An event whose blank line ends in a CR is
/// complete once the next byte shows whether that CR starts a CRLF, so the events do not
/// depend on where the reads split the stream; at the end of the stream such an event is
/// still in pending().
class sse_event_reader {
 public:
  explicit sse_event_reader(std::size_t max_event_bytes = 4 * 1024 * 1024) : max_(max_event_bytes) {}

  /// Appends bytes. False (and nothing more is accepted) once an incomplete event
  /// exceeds the bound.
  bool feed(std::string_view bytes);
  /// The next complete event's raw bytes, or nullopt.
  std::optional<std::string> next();
  /// The bytes of the incomplete event at the end (what is left when the stream ends).
  std::string_view pending() const;

 private:
  void scan();
  void compact();
  std::size_t incomplete_begin() const { return ends_.size() > taken_ ? ends_.back() : start_; }

  std::size_t max_;
  std::string buffer_;
  std::size_t start_ = 0;
  std::size_t scanned_ = 0;
  bool overflowed_ = false;
  // Ends (offsets into buffer_) of the complete events found by scan(); those before
  // taken_ have been returned by next().
  std::vector<std::size_t> ends_;
  std::size_t taken_ = 0;
  // Line state at scanned_: at the start of a line; the last byte was a CR ending a
  // non-blank line (a following LF belongs to it); the last byte was a CR forming a
  // blank line (the event ends after it, or after the LF that may follow).
  bool at_line_start_ = true;
  bool after_cr_ = false;
  bool blank_cr_ = false;
};

/// The parsed fields of one raw event that matter here.
struct sse_event {
  /// The data lines' values joined with "\n" (one leading space of each value dropped);
  /// nullopt when the event has no data field (a comment, a keep-alive).
  std::optional<std::string> data;
  /// The event field's value ("" when absent): "error" for an error event.
  std::string type;
};
sse_event parse_sse_event(std::string_view raw);

}  // namespace vp::e2ee
