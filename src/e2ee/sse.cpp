#include "e2ee/sse.hpp"

#include <cstring>

namespace vp::e2ee {

bool sse_event_reader::feed(std::string_view bytes) {
  if (overflowed_) return false;
  compact();
  buffer_.append(bytes);
  scan();
  if (buffer_.size() - incomplete_begin() > max_) {
    overflowed_ = true;
    return false;
  }
  return true;
}

std::optional<std::string> sse_event_reader::next() {
  if (taken_ == ends_.size()) return std::nullopt;
  const std::size_t end = ends_[taken_++];
  std::string event = buffer_.substr(start_, end - start_);
  start_ = end;
  return event;
}

std::string_view sse_event_reader::pending() const {
  const std::size_t begin = incomplete_begin();
  return std::string_view(buffer_).substr(begin);
}

// Drops what next() has returned, once that is at least half the buffer (or all of it),
// so the copying stays linear in the bytes fed.
void sse_event_reader::compact() {
  if (start_ == 0 || start_ * 2 < buffer_.size()) return;
  buffer_.erase(0, start_);
  ends_.erase(ends_.begin(), ends_.begin() + static_cast<std::ptrdiff_t>(taken_));
  taken_ = 0;
  for (auto& end : ends_) end -= start_;
  scanned_ -= start_;
  start_ = 0;
}

// Looks at each byte once: scanning resumes at scanned_ with the line state it stopped in.
void sse_event_reader::scan() {
  const char* data = buffer_.data();
  const std::size_t size = buffer_.size();
  std::size_t i = scanned_;
  while (i < size) {
    const char c = data[i];
    if (blank_cr_) {
      blank_cr_ = false;
      at_line_start_ = true;
      if (c == '\n') {
        ends_.push_back(++i);
        continue;
      }
      ends_.push_back(i);  // a bare CR ended the event; c starts the next one
    }
    if (c == '\n') {
      if (after_cr_) {
        after_cr_ = false;  // the LF of a CRLF whose CR already ended the line
      } else if (at_line_start_) {
        ends_.push_back(i + 1);
      }
      at_line_start_ = true;
      ++i;
    } else if (c == '\r') {
      if (at_line_start_) {
        blank_cr_ = true;
        after_cr_ = false;
      } else {
        at_line_start_ = true;
        after_cr_ = true;
      }
      ++i;
    } else {
      at_line_start_ = false;
      after_cr_ = false;
      // Within a line only the next line break matters: skip to it.
      const auto* lf = static_cast<const char*>(std::memchr(data + i, '\n', size - i));
      const std::size_t line_end = lf != nullptr ? static_cast<std::size_t>(lf - data) : size;
      const auto* cr = static_cast<const char*>(std::memchr(data + i, '\r', line_end - i));
      i = cr != nullptr ? static_cast<std::size_t>(cr - data) : line_end;
    }
  }
  scanned_ = i;
}

namespace {

/// Calls f(line) for each line of `raw` (without its line ending; CRLF, LF or CR).
template <class F>
void for_each_line(std::string_view raw, F&& f) {
  std::size_t pos = 0;
  while (pos < raw.size()) {
    const std::size_t brk = raw.find_first_of("\r\n", pos);
    if (brk == std::string_view::npos) {
      f(raw.substr(pos));
      return;
    }
    f(raw.substr(pos, brk - pos));
    pos = brk + 1;
    if (raw[brk] == '\r' && pos < raw.size() && raw[pos] == '\n') ++pos;
  }
}

}  // namespace

sse_event parse_sse_event(std::string_view raw) {
  sse_event event;
  for_each_line(raw, [&](std::string_view line) {
    if (line.empty() || line.front() == ':') return;  // the blank terminator; a comment
    // WHATWG HTML §9.2.6: a line without ':' is a field name with an empty value; one
    // space after the colon is not part of the value.
    std::string_view name = line;
    std::string_view value;
    if (const std::size_t colon = line.find(':'); colon != std::string_view::npos) {
      name = line.substr(0, colon);
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (name == "data") {
      if (event.data) {
        event.data->push_back('\n');
        event.data->append(value);
      } else {
        event.data.emplace(value);
      }
    } else if (name == "event") {
      event.type.assign(value);
    }
  });
  return event;
}

}  // namespace vp::e2ee
