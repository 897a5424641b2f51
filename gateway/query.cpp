#include "query.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace coditect::gateway {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Whole-string decimal integer within [lo, hi].
std::optional<long> parse_int(const std::string& s, long lo, long hi) {
  if (s.empty() || s.size() > 12) return std::nullopt;
  for (char c : s)
    if (c < '0' || c > '9') return std::nullopt;
  long v = std::strtol(s.c_str(), nullptr, 10);
  if (v < lo || v > hi) return std::nullopt;
  return v;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s, bool form) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0') return std::nullopt;
      out.push_back(d);
      i += 2;
    } else if (c == '+' && form) {
      out.push_back(' ');
    } else if (c == '\0') {
      return std::nullopt;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool is_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
        cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

std::string percent_encode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

std::optional<Params> parse_query(std::string_view query) {
  Params out;
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    auto key = percent_decode(part.substr(0, eq));
    auto value =
        percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
    if (!key || !value || !is_utf8(*key) || !is_utf8(*value)) return std::nullopt;
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

std::optional<std::string> repeated_key(const Params& params) {
  std::unordered_set<std::string_view> seen;
  for (const auto& [key, value] : params)
    if (!seen.insert(key).second) return key;
  return std::nullopt;
}

bool json_has_nul(const nlohmann::json& j) {
  if (j.is_string()) return j.get_ref<const std::string&>().find('\0') != std::string::npos;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key().find('\0') != std::string::npos || json_has_nul(*it)) return true;
  } else if (j.is_array()) {
    for (const auto& e : j)
      if (json_has_nul(e)) return true;
  }
  return false;
}

bool is_uuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (hex_value(s[i]) < 0) {
      return false;
    }
  }
  return true;
}

std::optional<std::string> parse_list_query(const Params& params, const QuerySpec& spec,
                                            ListQuery& out) {
  out = ListQuery{};
  out.page_size = spec.default_page_size;
  std::optional<long> page;
  std::unordered_set<std::string_view> seen;
  for (const auto& [key, value] : params) {
    if (!seen.insert(key).second) return "query parameter \"" + key + "\" is given more than once";
    if (key == "page" && spec.page) {
      page = parse_int(value, 1, 100000000);
      if (!page) return "page must be a whole number of 1 or more";
    } else if (key == "page_size" && spec.page_size) {
      auto n = parse_int(value, 1, spec.max_page_size);
      if (!n)
        return "page_size must be a whole number between 1 and " +
               std::to_string(spec.max_page_size);
      out.page_size = static_cast<int>(*n);
      out.page_size_given = true;
    } else if (key == "cursor" && spec.cursor) {
      if (value.empty() || value.size() > 512) return "invalid cursor";
      out.cursor = value;
    } else if (key == "ordering" && spec.ordering) {
      out.ordering = value;
    } else if (key == "search" && spec.search) {
      out.search = value;
    } else if (std::find(spec.fields.begin(), spec.fields.end(), key) != spec.fields.end()) {
      out.fields.emplace_back(key, value);
    } else if (spec.filters && key != "page" && key != "page_size" && key != "cursor" &&
               key != "ordering" && key != "search") {
      out.filters[key] = value;
    } else {
      std::string allowed;
      auto add = [&](bool on, const std::string& name) {
        if (on) allowed += (allowed.empty() ? "" : ", ") + name;
      };
      add(spec.page, "page");
      add(spec.page_size, "page_size");
      add(spec.cursor, "cursor");
      add(spec.ordering, "ordering");
      add(spec.search, "search");
      for (const auto& f : spec.fields) add(true, f);
      return "unknown query parameter \"" + key + "\"" +
             (allowed.empty() ? std::string(" (none is accepted here)")
                              : " (allowed: " + allowed + ")");
    }
  }
  if (page && out.cursor) return "give either page or cursor, not both";
  if (out.cursor) {
    out.page.reset();
  } else if (page) {
    out.page = page;
  } else if (!spec.keyset_default && spec.page) {
    out.page = 1;
  }
  return std::nullopt;
}

std::string page_url(const std::string& base_url, const std::string& path, const ListQuery& q,
                     std::optional<long> page, std::optional<std::string> cursor) {
  std::string url = base_url + path;
  char sep = '?';
  auto add = [&](const std::string& k, const std::string& v) {
    url += sep;
    url += percent_encode(k);
    url += '=';
    url += percent_encode(v);
    sep = '&';
  };
  // Filters, ordering and search in name order (nlohmann::json objects are sorted), then the
  // paging parameters.
  nlohmann::json kept = q.filters;
  if (q.ordering) kept["ordering"] = *q.ordering;
  if (q.search) kept["search"] = *q.search;
  for (auto it = kept.begin(); it != kept.end(); ++it)
    add(it.key(), it->is_string() ? it->get<std::string>() : it->dump());
  if (page) add("page", std::to_string(*page));
  if (cursor) add("cursor", *cursor);
  add("page_size", std::to_string(q.page_size));
  return url;
}

nlohmann::json list_envelope(nlohmann::json db_result, const ListQuery& q,
                             const std::string& base_url, const std::string& path) {
  nlohmann::json out = nlohmann::json::object();
  nlohmann::json count = db_result.value("count", nlohmann::json());
  out["count"] = count;
  out["next"] = nullptr;
  out["previous"] = nullptr;
  if (q.page) {
    long page = *q.page;
    if (count.is_number_integer() &&
        static_cast<long long>(page) * q.page_size < count.get<long long>())
      out["next"] = page_url(base_url, path, q, page + 1, std::nullopt);
    if (page > 1) out["previous"] = page_url(base_url, path, q, page - 1, std::nullopt);
  } else {
    auto next = db_result.find("next_cursor");
    if (next != db_result.end() && next->is_string())
      out["next"] = page_url(base_url, path, q, std::nullopt, next->get<std::string>());
  }
  auto results = db_result.find("results");
  // Moved, not copied: the results are most of the answer.
  out["results"] = results != db_result.end() ? std::move(*results) : nlohmann::json::array();
  return out;
}

}  // namespace coditect::gateway
