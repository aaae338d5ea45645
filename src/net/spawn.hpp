#pragma once
// Coroutines and run loops that cannot take the process down.
//
// A coroutine started with `asio::detached` rethrows any exception it lets escape from
// the io_context's run loop, which ends the process (or, in a thread, std::terminate).
// Every long-lived coroutine of the proxy and the simulator is started with
// `spawn_logged` instead: an escaping exception is logged with the coroutine's name,
// counted, and contained; the coroutine's own RAII state (its session, its socket) is
// released as the frame unwinds.
//
// An exception thrown by an I/O completion handler outside any coroutine frame (for
// instance inside a composed operation) leaves `io_context::run` itself; `run_contained`
// logs it, counts it and keeps running the loop, so one bad message cannot stop every
// other connection. The parsers and buffers are bounded so that this should never happen
// (net/bounded_parser.hpp); this is the last line of defence.

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdint>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

namespace vp::net {

/// Logs (ERROR) and counts an exception that escaped `what`. Never throws.
void report_contained_exception(std::string_view what, const std::exception_ptr& e) noexcept;

/// How many exceptions were contained since the process started (tests, metrics).
std::uint64_t contained_exception_count() noexcept;

/// co_spawn with a completion handler that contains and reports an escaping exception.
template <class Executor, class Awaitable>
void spawn_logged(Executor&& executor, Awaitable&& work, std::string what) {
  boost::asio::co_spawn(std::forward<Executor>(executor), std::forward<Awaitable>(work),
                        [what = std::move(what)](std::exception_ptr e) {
                          if (e) report_contained_exception(what, e);
                        });
}

/// Runs `io` until it has no more work, containing (logging, counting) exceptions that
/// escape handlers instead of letting them end the loop.
void run_contained(boost::asio::io_context& io, std::string_view what) noexcept;

}  // namespace vp::net
