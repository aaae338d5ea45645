#include "collateral/bundle.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "core/bytes.hpp"
#include "core/file.hpp"
#include "core/hex.hpp"
#include "crypto/x509.hpp"
#include "tdx/tcb_info.hpp"

namespace vp::collateral {
namespace {

namespace fs = std::filesystem;

// Real collateral is ~20 KB per set. Bundle trees are operator-supplied but may hold
// anything, so no single read is allowed to pull in an unbounded file.
constexpr std::size_t max_collateral_file_size = 4u << 20;

// A huge or adversarial tree must not stall the proxy: the walk gives up after this
// many directory entries (files and directories together).
constexpr std::size_t max_walk_entries = 10'000;

// Messages list at most this many skipped candidates.
constexpr std::size_t max_listed_skips = 8;

error make(errc kind, std::string message) { return error{kind, std::move(message)}; }

std::string quoted(const fs::path& p) { return "\"" + p.string() + "\""; }

// Candidates are named relative to the root in messages: the root is named once and
// a list of skipped files stays readable.
std::string shown(const fs::path& p, const fs::path& root) {
  const fs::path rel = p.lexically_relative(root);
  return rel.empty() || rel == "." ? quoted(p) : rel.string();
}

std::string errno_text(int e) { return std::generic_category().message(e); }

std::string platform_name(const std::array<std::uint8_t, 6>& fmspc, tdx::pck_ca_type ca) {
  return to_hex_upper(fmspc) + "/" + std::string(tdx::to_string(ca));
}

// Reads a regular file (following symlinks) of bounded size. Checking the type first
// keeps a FIFO or device named like collateral from blocking the walk.
result<std::string> read_regular_file(const fs::path& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return make(errc::invalid, quoted(path) + " is missing or cannot be accessed" +
                                   (ec ? " (" + ec.message() + ")" : std::string()));
  }
  if (!fs::is_regular_file(st)) return make(errc::invalid, quoted(path) + " is not a regular file");
  const auto size = fs::file_size(path, ec);
  if (!ec && size > max_collateral_file_size) {
    return make(errc::invalid, quoted(path) + " is " + std::to_string(size) + " bytes, more than the " +
                                   std::to_string(max_collateral_file_size) + " allowed for collateral");
  }
  auto data = vp::read_file(path, max_collateral_file_size);
  if (!data) return make(errc::invalid, quoted(path) + " cannot be read");
  return std::move(*data);
}

// ---------------------------------------------------------------------------------
// Atomic writes

class fd_guard {
 public:
  explicit fd_guard(int fd) : fd_(fd) {}
  ~fd_guard() {
    if (fd_ >= 0) ::close(fd_);
  }
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

std::atomic<unsigned long> temp_counter{0};

fs::path temp_path_for(const fs::path& target) {
  const auto ticks = std::chrono::steady_clock::now().time_since_epoch().count();
  return target.parent_path() / ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" +
                                 std::to_string(temp_counter.fetch_add(1)) + "-" + std::to_string(ticks));
}

result<void> write_all(int fd, byte_view data, const fs::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return make(errc::unavailable, "cannot write " + quoted(path) + ": " + errno_text(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

// Readers (a running proxy, a person) must never see a half-written file: the data
// goes to a temporary file in the same directory (same file system, so rename is
// atomic), is flushed to disk, then replaces the target in one rename. Mode 0600 is
// set with fchmod because open()'s mode is filtered through the umask.
result<void> write_file_atomically(const fs::path& target, byte_view data) {
  if (target.filename().empty()) return make(errc::unavailable, "cannot write " + quoted(target) + ": no file name");
  fs::path tmp;
  int raw_fd = -1;
  for (int attempt = 0; attempt < 16 && raw_fd < 0; ++attempt) {
    tmp = temp_path_for(target);
    raw_fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, S_IRUSR | S_IWUSR);
    if (raw_fd < 0 && errno != EEXIST) break;
  }
  if (raw_fd < 0) {
    return make(errc::unavailable, "cannot create a temporary file beside " + quoted(target) + ": " +
                                       errno_text(errno));
  }
  fd_guard fd(raw_fd);
  auto fail = [&](std::string what) -> result<void> {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return make(errc::unavailable, what + " " + quoted(tmp) + " (for " + quoted(target) + "): " + errno_text(saved));
  };
  if (::fchmod(fd.get(), S_IRUSR | S_IWUSR) != 0) return fail("cannot set mode 0600 on");
  if (auto ok = write_all(fd.get(), data, tmp); !ok) {
    ::unlink(tmp.c_str());
    return ok.error();
  }
  if (::fsync(fd.get()) != 0) return fail("cannot fsync");
  if (::close(fd.release()) != 0) return fail("cannot close");
  if (::rename(tmp.c_str(), target.c_str()) != 0) {
    const int saved = errno;
    ::unlink(tmp.c_str());
    return make(errc::unavailable, "cannot rename " + quoted(tmp) + " to " + quoted(target) + ": " +
                                       errno_text(saved));
  }
  // Make the rename itself durable. Best effort: the file is already complete and in
  // place, and some file systems refuse fsync on directories.
  const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
  return {};
}

result<void> write_file_atomically(const fs::path& target, std::string_view text) {
  return write_file_atomically(target, as_bytes(text));
}

result<bytes> crl_as_der(byte_view data, std::string_view name) {
  const crypto::x509_crl_ptr crl = crypto::parse_crl(data);
  if (!crl) {
    return make(errc::invalid, std::string(name) + " is not a DER, PEM or hex CRL (" + std::to_string(data.size()) +
                                   " bytes)");
  }
  bytes der = crypto::crl_der(crl.get());
  if (der.empty()) return make(errc::invalid, std::string(name) + " cannot be re-encoded as DER");
  return der;
}

// ---------------------------------------------------------------------------------
// Identity and ranking

struct candidate_facts {
  bundle_identity id;
  std::uint32_t tcb_evaluation_data_number = 0;
  unix_time tcb_info_issue_date{};
};

result<tdx::pck_ca_type> ca_of_chain(std::string_view pem) {
  const auto chain = crypto::parse_pem_certificates(pem);
  if (!chain || chain->empty()) {
    return make(errc::invalid, "pck_crl_issuer_chain holds no parseable PEM certificate (" +
                                   std::to_string(pem.size()) + " bytes)");
  }
  const std::string cn = crypto::common_name(X509_get_subject_name(chain->front().get()));
  const bool platform = cn.find("Platform") != std::string::npos;
  const bool processor = cn.find("Processor") != std::string::npos;
  if (platform == processor) {
    return make(errc::invalid, "PCK CRL issuer common name \"" + cn +
                                   "\" names neither the Platform nor the Processor CA");
  }
  return platform ? tdx::pck_ca_type::platform : tdx::pck_ca_type::processor;
}

result<candidate_facts> describe(const tdx::collateral_v3& c) {
  const auto tcb = tdx::parse_tcb_info(c.tcb_info);
  if (!tcb) return make(errc::invalid, "TCB info does not parse: " + tcb.error().message);
  const auto ca = ca_of_chain(c.pck_crl_issuer_chain);
  if (!ca) return ca.error();
  const auto qe = tdx::parse_qe_identity(c.qe_identity);
  if (!qe) return make(errc::invalid, "QE identity does not parse: " + qe.error().message);
  candidate_facts f;
  f.id.fmspc = tcb->fmspc;
  f.id.ca = *ca;
  // A set is only as recent as its older half (Intel publishes both per evaluation).
  f.tcb_evaluation_data_number = std::min(tcb->tcb_evaluation_data_number, qe->tcb_evaluation_data_number);
  f.tcb_info_issue_date = tcb->issue_date;
  return f;
}

// ---------------------------------------------------------------------------------
// Walking a tree

enum class candidate_kind { bundle_directory, collateral_json };

struct candidate_path {
  fs::path path;
  candidate_kind kind;
  bool operator<(const candidate_path& o) const { return path < o.path; }
};

struct walk_result {
  std::vector<candidate_path> candidates;
  std::vector<std::string> skipped;  // unreadable directories and unusable candidates, with the reason
  std::size_t entries = 0;
  bool truncated = false;
};

bool is_bundle_file_name(const std::string& name) {
  return std::any_of(std::begin(bundle_files), std::end(bundle_files),
                     [&](const char* f) { return name == f; });
}

// Depth-first over real directories only: symlinks to directories are not entered,
// so a link loop cannot make the walk run forever; the entry bound covers the rest.
// Unreadable directories are noted and skipped. Candidates are sorted afterwards so
// that ties are broken the same way on every file system.
walk_result walk_tree(const fs::path& root) {
  walk_result w;
  std::vector<fs::path> pending{root};
  while (!pending.empty() && !w.truncated) {
    const fs::path dir = std::move(pending.back());
    pending.pop_back();
    std::error_code ec;
    fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec);
    if (ec) {
      w.skipped.push_back(shown(dir, root) + " (" + ec.message() + ")");
      continue;
    }
    bool has_tcb_info = false;
    for (const fs::directory_iterator end; it != end;) {
      if (++w.entries > max_walk_entries) {
        w.truncated = true;
        break;
      }
      const fs::directory_entry& entry = *it;
      std::error_code st_ec;
      const fs::file_status st = entry.symlink_status(st_ec);
      const std::string name = entry.path().filename().string();
      if (!st_ec && fs::is_directory(st)) {
        pending.push_back(entry.path());
      } else if (name == "tcb_info.json") {
        has_tcb_info = true;
      } else if (entry.path().extension() == ".json" && !is_bundle_file_name(name)) {
        w.candidates.push_back({entry.path(), candidate_kind::collateral_json});
      }
      it.increment(ec);
      if (ec) {
        w.skipped.push_back(shown(dir, root) + " (listing stopped: " + ec.message() + ")");
        break;
      }
    }
    if (has_tcb_info) w.candidates.push_back({dir, candidate_kind::bundle_directory});
  }
  std::sort(w.candidates.begin(), w.candidates.end());
  return w;
}

result<tdx::collateral_v3> load_candidate(const candidate_path& c) {
  if (c.kind == candidate_kind::bundle_directory) {
    auto responses = read_bundle_directory(c.path);
    if (!responses) return responses.error();
    auto coll = tdx::collateral_from_pcs_responses(*responses);
    if (!coll) return make(errc::invalid, coll.error().message);
    return std::move(*coll);
  }
  auto text = read_regular_file(c.path);
  if (!text) return text.error();
  auto coll = tdx::parse_collateral_v3_json(*text);
  if (!coll) return make(errc::invalid, "not QuoteCollateralV3: " + coll.error().message);
  return std::move(*coll);
}

}  // namespace

result<tdx::pcs_responses> read_bundle_directory(const std::filesystem::path& dir) {
  tdx::pcs_responses r;
  const std::pair<const char*, std::string*> texts[] = {
      {"tcb_info.json", &r.tcb_info},
      {"tcb_info_issuer_chain.pem", &r.tcb_info_issuer_chain},
      {"qe_identity.json", &r.qe_identity},
      {"qe_identity_issuer_chain.pem", &r.qe_identity_issuer_chain},
      {"pck_crl_issuer_chain.pem", &r.pck_crl_issuer_chain},
  };
  for (const auto& [name, out] : texts) {
    auto data = read_regular_file(dir / name);
    if (!data) return make(errc::invalid, "bundle file " + data.error().message);
    *out = std::move(*data);
  }
  const std::pair<const char*, bytes*> crls[] = {{"pck_crl.der", &r.pck_crl}, {"root_ca_crl.der", &r.root_ca_crl}};
  for (const auto& [name, out] : crls) {
    auto data = read_regular_file(dir / name);
    if (!data) return make(errc::invalid, "bundle file " + data.error().message);
    out->assign(data->begin(), data->end());
  }
  return r;
}

result<void> write_bundle_directory(const std::filesystem::path& dir, const tdx::pcs_responses& responses) {
  // Normalise first, so that an unusable CRL leaves nothing half-written.
  auto pck_crl = crl_as_der(responses.pck_crl, "pck_crl");
  if (!pck_crl) return make(errc::invalid, pck_crl.error().message + "; nothing written to " + quoted(dir));
  auto root_ca_crl = crl_as_der(responses.root_ca_crl, "root_ca_crl");
  if (!root_ca_crl) return make(errc::invalid, root_ca_crl.error().message + "; nothing written to " + quoted(dir));

  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make(errc::unavailable, "cannot create directory " + quoted(dir) + ": " + ec.message());

  // tcb_info.json marks a directory as a bundle, so it goes last: a tree walk that
  // runs during a first write does not pick up a set with files still missing.
  const std::pair<const char*, byte_view> files[] = {
      {"tcb_info_issuer_chain.pem", as_bytes(responses.tcb_info_issuer_chain)},
      {"qe_identity.json", as_bytes(responses.qe_identity)},
      {"qe_identity_issuer_chain.pem", as_bytes(responses.qe_identity_issuer_chain)},
      {"pck_crl.der", *pck_crl},
      {"pck_crl_issuer_chain.pem", as_bytes(responses.pck_crl_issuer_chain)},
      {"root_ca_crl.der", *root_ca_crl},
      {"tcb_info.json", as_bytes(responses.tcb_info)},
  };
  for (const auto& [name, data] : files) {
    if (auto ok = write_file_atomically(dir / name, data); !ok) return ok.error();
  }
  return {};
}

result<bundle_identity> identify(const tdx::collateral_v3& c) {
  const auto tcb = tdx::parse_tcb_info(c.tcb_info);
  if (!tcb) return make(errc::invalid, "TCB info does not parse: " + tcb.error().message);
  const auto ca = ca_of_chain(c.pck_crl_issuer_chain);
  if (!ca) return ca.error();
  return bundle_identity{tcb->fmspc, *ca};
}

result<tdx::collateral_v3> find_in_bundle_tree(const std::filesystem::path& root,
                                                const std::array<std::uint8_t, 6>& fmspc, tdx::pck_ca_type ca) {
  const std::string wanted = platform_name(fmspc, ca);
  std::error_code ec;
  const fs::file_status root_status = fs::status(root, ec);
  if (ec || !fs::exists(root_status)) {
    return make(errc::not_found, "no collateral for " + wanted + ": bundle root " + quoted(root) +
                                     " does not exist or cannot be accessed" +
                                     (ec ? " (" + ec.message() + ")" : std::string()));
  }

  walk_result w;
  if (fs::is_directory(root_status)) {
    w = walk_tree(root);
  } else if (fs::is_regular_file(root_status)) {
    w.candidates.push_back({root, candidate_kind::collateral_json});
  } else {
    return make(errc::not_found, "no collateral for " + wanted + ": bundle root " + quoted(root) +
                                     " is neither a directory nor a regular file");
  }

  std::optional<tdx::collateral_v3> best;
  candidate_facts best_facts;
  std::set<std::string> seen;
  for (const candidate_path& cand : w.candidates) {
    auto coll = load_candidate(cand);
    if (!coll) {
      w.skipped.push_back(shown(cand.path, root) + " (" + coll.error().message + ")");
      continue;
    }
    auto facts = describe(*coll);
    if (!facts) {
      w.skipped.push_back(shown(cand.path, root) + " (" + facts.error().message + ")");
      continue;
    }
    seen.insert(platform_name(facts->id.fmspc, facts->id.ca));
    if (facts->id.fmspc != fmspc || facts->id.ca != ca) continue;
    const bool better =
        !best || facts->tcb_evaluation_data_number > best_facts.tcb_evaluation_data_number ||
        (facts->tcb_evaluation_data_number == best_facts.tcb_evaluation_data_number &&
         facts->tcb_info_issue_date > best_facts.tcb_info_issue_date);
    if (better) {
      best = std::move(*coll);
      best_facts = *facts;
    }
  }
  if (best) return std::move(*best);

  std::string message = "no collateral for " + wanted + " under " + quoted(root) + " (found: ";
  if (seen.empty()) {
    message += "none";
  } else {
    bool first = true;
    for (const std::string& p : seen) {
      message += (first ? "" : ", ") + p;
      first = false;
    }
  }
  message += ")";
  if (!w.skipped.empty()) {
    message += "; skipped " + std::to_string(w.skipped.size()) + ": ";
    for (std::size_t i = 0; i < w.skipped.size() && i < max_listed_skips; ++i) {
      message += (i == 0 ? "" : "; ") + w.skipped[i];
    }
    if (w.skipped.size() > max_listed_skips) message += "; …";
  }
  if (w.truncated) {
    message += "; search stopped after " + std::to_string(max_walk_entries) + " directory entries";
  }
  return make(errc::not_found, std::move(message));
}

result<void> write_collateral_file(const std::filesystem::path& file, const tdx::collateral_v3& c) {
  return write_file_atomically(file, std::string_view(tdx::to_collateral_v3_json(c)));
}

result<tdx::collateral_v3> read_collateral_file(const std::filesystem::path& file) {
  auto text = read_regular_file(file);
  if (!text) return make(errc::invalid, "collateral file " + text.error().message);
  auto c = tdx::parse_collateral_v3_json(*text);
  if (!c) return make(errc::invalid, "collateral file " + quoted(file) + ": " + c.error().message);
  return std::move(*c);
}

result<tdx::collateral_v3> load_collateral(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) return read_collateral_file(path);
  auto responses = read_bundle_directory(path);
  if (!responses) return responses.error();
  auto raw = tdx::collateral_from_pcs_responses(*responses);
  if (!raw) return error{errc::invalid, path.string() + ": " + raw.error().message};
  return std::move(*raw);
}

}  // namespace vp::collateral
