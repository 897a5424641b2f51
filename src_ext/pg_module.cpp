// Module entry: magic block and the callbacks that clear per-transaction state.
#include "pg_guard.hpp"

extern "C" {
PG_MODULE_MAGIC;
void _PG_init(void);
}

namespace coditect::pg {
void register_context_callbacks();
}

void _PG_init(void) { coditect::pg::register_context_callbacks(); }
