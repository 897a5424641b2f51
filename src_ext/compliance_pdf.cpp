#include "compliance_pdf.hpp"

#include <hpdf.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace coditect::compliance {
namespace {

using json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// The input: checked field by field so that a wrong report fails with its path, before any
// drawing.
// ---------------------------------------------------------------------------------------------

struct Row {
  std::string created_at, action, user, resource, severity;
};

struct ActionCount {
  std::string action;
  long long count = 0;
};

struct Section {
  std::string title, description;
  long long count = 0;
  std::vector<ActionCount> by_action;
  std::vector<Row> rows;
};

struct Day {
  std::string date;
  long long count = 0;
};

struct Report {
  std::string type, tenant, start, end, generated_at;
  long long events = 0, users = 0;
  std::vector<Section> sections;
  std::vector<Day> activity;
};

[[noreturn]] void bad(const std::string& path, const char* what) {
  throw ReportShapeError(path + " " + what);
}

const json& field(const json& obj, const std::string& path, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) bad(path + "." + key, "is missing");
  return *it;
}

std::string string_at(const json& obj, const std::string& path, const char* key) {
  const json& v = field(obj, path, key);
  if (!v.is_string()) bad(path + "." + key, "must be a string");
  return v.get<std::string>();
}

// Optional text: absent or null is empty, anything else must be a string.
std::string text_at(const json& obj, const std::string& path, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  if (!it->is_string()) bad(path + "." + key, "must be a string or null");
  return it->get<std::string>();
}

long long count_at(const json& obj, const std::string& path, const char* key) {
  const json& v = field(obj, path, key);
  if (!v.is_number_integer() || v.get<long long>() < 0) {
    bad(path + "." + key, "must be a non-negative integer");
  }
  return v.get<long long>();
}

const json& array_at(const json& obj, const std::string& path, const char* key) {
  const json& v = field(obj, path, key);
  if (!v.is_array()) bad(path + "." + key, "must be an array");
  return v;
}

const json& object_at(const json& obj, const std::string& path, const char* key) {
  const json& v = field(obj, path, key);
  if (!v.is_object()) bad(path + "." + key, "must be an object");
  return v;
}

std::string item_path(const std::string& path, const char* key, size_t i) {
  return path + "." + key + "[" + std::to_string(i) + "]";
}

Report parse(std::string_view text) {
  json doc = json::parse(text, nullptr, false);
  if (doc.is_discarded()) throw ReportShapeError("$ is not JSON");
  if (!doc.is_object()) bad("$", "must be an object");
  Report r;
  r.type = string_at(doc, "$", "report_type");
  r.tenant = string_at(object_at(doc, "$", "tenant"), "$.tenant", "name");
  const json& period = object_at(doc, "$", "period");
  r.start = string_at(period, "$.period", "start");
  r.end = string_at(period, "$.period", "end");
  r.generated_at = text_at(doc, "$", "generated_at");
  if (doc.contains("totals")) {
    const json& totals = object_at(doc, "$", "totals");
    r.events = count_at(totals, "$.totals", "events");
    r.users = count_at(totals, "$.totals", "users");
  }
  const json& sections = array_at(doc, "$", "sections");
  for (size_t i = 0; i < sections.size(); ++i) {
    const std::string sp = item_path("$", "sections", i);
    const json& s = sections[i];
    if (!s.is_object()) bad(sp, "must be an object");
    Section out;
    out.title = string_at(s, sp, "title");
    out.description = text_at(s, sp, "description");
    out.count = count_at(s, sp, "count");
    const json& by_action = array_at(s, sp, "by_action");
    for (size_t j = 0; j < by_action.size(); ++j) {
      const std::string ap = item_path(sp, "by_action", j);
      if (!by_action[j].is_object()) bad(ap, "must be an object");
      out.by_action.push_back(
          {string_at(by_action[j], ap, "action"), count_at(by_action[j], ap, "count")});
    }
    const json& rows = array_at(s, sp, "rows");
    for (size_t j = 0; j < rows.size(); ++j) {
      const std::string rp = item_path(sp, "rows", j);
      const json& row = rows[j];
      if (!row.is_object()) bad(rp, "must be an object");
      std::string resource = text_at(row, rp, "resource_type");
      const std::string id = text_at(row, rp, "resource_id");
      if (!id.empty()) resource += " " + id;
      out.rows.push_back({string_at(row, rp, "created_at"), string_at(row, rp, "action"),
                          text_at(row, rp, "user_id"), resource, text_at(row, rp, "severity")});
    }
    r.sections.push_back(std::move(out));
  }
  const json& activity = array_at(doc, "$", "activity");
  for (size_t i = 0; i < activity.size(); ++i) {
    const std::string dp = item_path("$", "activity", i);
    if (!activity[i].is_object()) bad(dp, "must be an object");
    r.activity.push_back({string_at(activity[i], dp, "date"), count_at(activity[i], dp, "count")});
  }
  return r;
}

// ---------------------------------------------------------------------------------------------
// Drawing
// ---------------------------------------------------------------------------------------------

// The base-14 fonts speak WinAnsi: Latin-1 passes, anything else becomes '?'.
std::string win_ansi(const std::string& utf8) {
  std::string out;
  for (size_t i = 0; i < utf8.size();) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    unsigned cp = c;
    size_t len = 1;
    if (c >= 0xF0) {
      len = 4, cp = 0x110000;
    } else if (c >= 0xE0) {
      len = 3, cp = 0x110000;
    } else if (c >= 0xC0 && i + 1 < utf8.size()) {
      len = 2, cp = ((c & 0x1Fu) << 6) | (static_cast<unsigned char>(utf8[i + 1]) & 0x3Fu);
    } else if (c >= 0x80) {
      cp = 0x110000;
    }
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0) || cp > 0xFF) {
      out += cp < 0x20 ? ' ' : '?';
    } else {
      out += static_cast<char>(cp);
    }
    i += len;
  }
  return out;
}

// libharu reports errors through a callback; it records the first and the renderer checks after
// each step (throwing from the callback would unwind through C frames).
struct ErrorState {
  HPDF_STATUS error = HPDF_OK;
  HPDF_STATUS detail = HPDF_OK;
};

void on_error(HPDF_STATUS error, HPDF_STATUS detail, void* user) {
  auto* state = static_cast<ErrorState*>(user);
  if (state->error == HPDF_OK) {
    state->error = error;
    state->detail = detail;
  }
}

constexpr float kWidth = 595.0f;  // A4 in points
constexpr float kHeight = 842.0f;
constexpr float kMargin = 50.0f;
constexpr size_t kActionRows = 12;  // per section page; the rest is summed in one line
constexpr size_t kLatestRows = 10;

class Writer {
 public:
  Writer() : doc_(HPDF_New(on_error, &errors_), HPDF_Free) {
    if (!doc_) throw std::runtime_error("libharu: cannot create a document");
    HPDF_SetCompressionMode(doc_.get(), HPDF_COMP_ALL);
    regular_ = HPDF_GetFont(doc_.get(), "Helvetica", "WinAnsiEncoding");
    bold_ = HPDF_GetFont(doc_.get(), "Helvetica-Bold", "WinAnsiEncoding");
    check("loading the fonts");
  }

  void check(const char* step) const {
    if (errors_.error != HPDF_OK) {
      char message[160];
      std::snprintf(message, sizeof message, "libharu failed %s (error 0x%04X, detail %u)", step,
                    static_cast<unsigned>(errors_.error), static_cast<unsigned>(errors_.detail));
      throw std::runtime_error(message);
    }
  }

  void set_title(const std::string& title) {
    HPDF_SetInfoAttr(doc_.get(), HPDF_INFO_TITLE, win_ansi(title).c_str());
    HPDF_SetInfoAttr(doc_.get(), HPDF_INFO_CREATOR, "Coditect Core");
  }

  void new_page() {
    page_ = HPDF_AddPage(doc_.get());
    HPDF_Page_SetSize(page_, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    check("adding a page");
    ++pages_;
    y_ = kHeight - kMargin;
  }

  // Text at (x, y), cut with "..." to at most `width` points.
  void text(float x, float y, const std::string& s, float size, bool bold = false,
            float width = kWidth - 2 * kMargin) {
    HPDF_Page_SetFontAndSize(page_, bold ? bold_ : regular_, size);
    std::string t = win_ansi(s);
    if (HPDF_Page_TextWidth(page_, t.c_str()) > width) {
      while (!t.empty() && HPDF_Page_TextWidth(page_, (t + "...").c_str()) > width) t.pop_back();
      t += "...";
    }
    HPDF_Page_BeginText(page_);
    HPDF_Page_TextOut(page_, x, y, t.c_str());
    HPDF_Page_EndText(page_);
  }

  // A line of text at the cursor, which moves down.
  void line(const std::string& s, float size, bool bold = false, float gap = 4.0f) {
    y_ -= size;
    text(kMargin, y_, s, size, bold);
    y_ -= gap;
  }

  // A table at the cursor: a shaded header row, then the rows; columns are widths in points.
  void table(const std::vector<std::string>& header, const std::vector<float>& widths,
             const std::vector<std::vector<std::string>>& rows) {
    constexpr float kRow = 14.0f;
    float total = 0;
    for (float w : widths) total += w;
    HPDF_Page_SetRGBFill(page_, 0.88f, 0.90f, 0.94f);
    HPDF_Page_Rectangle(page_, kMargin, y_ - kRow, total, kRow);
    HPDF_Page_Fill(page_);
    HPDF_Page_SetRGBFill(page_, 0, 0, 0);
    auto draw = [&](const std::vector<std::string>& cells, bool bold) {
      float x = kMargin;
      for (size_t c = 0; c < widths.size(); ++c) {
        text(x + 3, y_ - kRow + 4, c < cells.size() ? cells[c] : "", 8.5f, bold, widths[c] - 6);
        x += widths[c];
      }
      y_ -= kRow;
      HPDF_Page_SetRGBStroke(page_, 0.75f, 0.75f, 0.75f);
      HPDF_Page_SetLineWidth(page_, 0.5f);
      HPDF_Page_MoveTo(page_, kMargin, y_);
      HPDF_Page_LineTo(page_, kMargin + total, y_);
      HPDF_Page_Stroke(page_);
    };
    draw(header, true);
    for (const auto& r : rows) draw(r, false);
    y_ -= 10;
  }

  // Bars of the activity per day, with the largest day's count on the axis and the first, middle
  // and last dates below it.
  void activity_chart(const std::vector<Day>& days, float height) {
    const float left = kMargin + 30, width = kWidth - kMargin - left;
    const float bottom = y_ - height;
    long long top = 1;
    for (const Day& d : days) top = std::max(top, d.count);
    HPDF_Page_SetRGBStroke(page_, 0.2f, 0.2f, 0.2f);
    HPDF_Page_SetLineWidth(page_, 0.8f);
    HPDF_Page_MoveTo(page_, left, y_);
    HPDF_Page_LineTo(page_, left, bottom);
    HPDF_Page_LineTo(page_, left + width, bottom);
    HPDF_Page_Stroke(page_);
    HPDF_Page_SetRGBStroke(page_, 0.85f, 0.85f, 0.85f);
    HPDF_Page_SetLineWidth(page_, 0.4f);
    for (int g = 1; g <= 2; ++g) {
      HPDF_Page_MoveTo(page_, left, bottom + height * g / 2);
      HPDF_Page_LineTo(page_, left + width, bottom + height * g / 2);
    }
    HPDF_Page_Stroke(page_);
    text(kMargin, bottom + height - 3, std::to_string(top), 7.5f, false, 28);
    text(kMargin, bottom + height / 2 - 3, std::to_string(top / 2), 7.5f, false, 28);
    text(kMargin, bottom - 3, "0", 7.5f, false, 28);
    if (!days.empty()) {
      const float slot = width / static_cast<float>(days.size());
      HPDF_Page_SetRGBFill(page_, 0.20f, 0.42f, 0.70f);
      for (size_t i = 0; i < days.size(); ++i) {
        const float h = height * static_cast<float>(days[i].count) / static_cast<float>(top);
        if (h <= 0) continue;
        HPDF_Page_Rectangle(page_, left + slot * i + slot * 0.1f, bottom, slot * 0.8f, h);
      }
      HPDF_Page_Fill(page_);
      HPDF_Page_SetRGBFill(page_, 0, 0, 0);
      const size_t marks[] = {0, days.size() / 2, days.size() - 1};
      for (size_t m : marks) {
        float x = left + slot * m;
        x = std::min(x, left + width - 45);
        text(x, bottom - 12, days[m].date, 7.5f, false, 60);
      }
    }
    y_ = bottom - 24;
  }

  float y() const { return y_; }
  int pages() const { return pages_; }

  std::string save() {
    HPDF_SaveToStream(doc_.get());
    check("writing the document");
    HPDF_UINT32 size = HPDF_GetStreamSize(doc_.get());
    std::string bytes(size, '\0');
    HPDF_UINT32 read = size;
    HPDF_ResetStream(doc_.get());
    HPDF_ReadFromStream(doc_.get(), reinterpret_cast<HPDF_BYTE*>(bytes.data()), &read);
    // ReadFromStream reports the end of the stream as an "error" once everything was read.
    if (read != size) throw std::runtime_error("libharu: short read of the document");
    return bytes;
  }

 private:
  ErrorState errors_;
  std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, decltype(&HPDF_Free)> doc_;
  HPDF_Font regular_ = nullptr;
  HPDF_Font bold_ = nullptr;
  HPDF_Page page_ = nullptr;
  float y_ = 0;
  int pages_ = 0;
};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

RenderedPdf render_report_pdf(std::string_view report_json) {
  const Report r = parse(report_json);
  Writer w;
  const std::string title = upper(r.type) + " compliance report";
  w.set_title(title + " - " + r.tenant);

  // Title page: who, what, when, the summary and the activity chart.
  w.new_page();
  w.line(title, 22, true, 10);
  w.line("Tenant: " + r.tenant, 12);
  w.line("Period: " + r.start + " to " + r.end + " (UTC, both days included)", 12);
  if (!r.generated_at.empty()) w.line("Generated: " + r.generated_at, 10);
  w.line("Audit events in the period: " + std::to_string(r.events) + ", by " +
             std::to_string(r.users) + " user(s)",
         10, false, 14);
  w.line("Sections", 13, true, 6);
  std::vector<std::vector<std::string>> summary;
  for (size_t i = 0; i < r.sections.size(); ++i) {
    summary.push_back(
        {std::to_string(i + 1) + ". " + r.sections[i].title, std::to_string(r.sections[i].count)});
  }
  w.table({"Section", "Events"}, {420, 75}, summary);
  w.line("Activity per day", 13, true, 8);
  w.activity_chart(r.activity, std::min(220.0f, w.y() - kMargin - 30));
  w.check("drawing the title page");

  // One page per section.
  for (size_t i = 0; i < r.sections.size(); ++i) {
    const Section& s = r.sections[i];
    w.new_page();
    w.line(std::to_string(i + 1) + ". " + s.title, 16, true, 6);
    if (!s.description.empty()) w.line(s.description, 9, false, 6);
    w.line("Events: " + std::to_string(s.count), 11, false, 10);
    std::vector<std::vector<std::string>> actions;
    long long rest = 0;
    for (size_t j = 0; j < s.by_action.size(); ++j) {
      if (j < kActionRows) {
        actions.push_back({s.by_action[j].action, std::to_string(s.by_action[j].count)});
      } else {
        rest += s.by_action[j].count;
      }
    }
    if (s.by_action.size() > kActionRows) {
      actions.push_back({std::to_string(s.by_action.size() - kActionRows) + " other actions",
                         std::to_string(rest)});
    }
    w.line("By action", 11, true, 4);
    w.table({"Action", "Events"}, {420, 75}, actions);
    w.line("Latest events", 11, true, 4);
    std::vector<std::vector<std::string>> rows;
    for (size_t j = 0; j < s.rows.size() && j < kLatestRows; ++j) {
      const Row& row = s.rows[j];
      rows.push_back({row.created_at, row.action, row.user, row.resource, row.severity});
    }
    w.table({"Time (UTC)", "Action", "User", "Resource", "Severity"}, {90, 105, 110, 145, 45},
            rows);
    w.check("drawing a section");
  }
  RenderedPdf out;
  out.bytes = w.save();
  out.pages = w.pages();
  return out;
}

}  // namespace coditect::compliance
