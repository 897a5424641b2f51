// Module entry: magic block and the callbacks that clear per-transaction state.
#include "pg_guard.hpp"

extern "C" {
PG_MODULE_MAGIC;
void _PG_init(void);
}

namespace coditect::pg {
void register_context_callbacks();
void define_request_setting();
void define_license_settings();
void define_fail_point_setting();
}  // namespace coditect::pg

void _PG_init(void) {
  coditect::pg::register_context_callbacks();
  coditect::pg::define_request_setting();
  coditect::pg::define_license_settings();
  coditect::pg::define_fail_point_setting();
}
