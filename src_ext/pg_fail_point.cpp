// coditect.debug_fail_point: a superuser-only test switch that makes a named C++ code path
// throw std::bad_alloc, so the tests can prove that a C++ exception anywhere in the glue ends
// as an ordinary "out of memory" error and leaves the backend healthy.
#include "pg_guard.hpp"

extern "C" {
#include "utils/guc.h"
}

#include <new>

namespace {

enum FailPoint { kNone, kAudit, kTransition, kCompliancePdf };

const struct config_enum_entry kFailPoints[] = {
    {"none", kNone, false},
    {"audit", kAudit, false},
    {"transition", kTransition, false},
    {"compliance_pdf", kCompliancePdf, false},
    {nullptr, 0, false},
};

int g_fail_point = kNone;

int fail_point_of(const char* name) {
  for (const auto* e = kFailPoints; e->name; ++e) {
    if (strcmp(e->name, name) == 0) return e->val;
  }
  return kNone;
}

}  // namespace

namespace coditect::pg {

void define_fail_point_setting() {
  DefineCustomEnumVariable("coditect.debug_fail_point",
                           "Test only: the C++ code path that throws std::bad_alloc.", nullptr,
                           &g_fail_point, kNone, kFailPoints, PGC_SUSET,
                           GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL, nullptr, nullptr, nullptr);
}

void fail_point(const char* name) {
  if (g_fail_point != kNone && g_fail_point == fail_point_of(name)) throw std::bad_alloc();
}

}  // namespace coditect::pg
