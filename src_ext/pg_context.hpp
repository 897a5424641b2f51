// Request context of the current transaction, kept in backend memory (never in a GUC, which any
// role could SET). Set by coditect.set_request_context(), cleared when the transaction ends.
#pragma once

extern "C" {
#include "postgres.h"
#include "utils/uuid.h"
}

namespace coditect::pg {

struct RequestContext {
  bool active = false;
  pg_uuid_t tenant_id{};
  pg_uuid_t user_id{};
  char user_role[16] = {};
  Datum client_ip = 0;  // inet, palloc'd in TopTransactionContext; 0 when absent
  char* user_agent = nullptr;
  char* request_method = nullptr;
  char* request_path = nullptr;
  int nest_level = 0;  // subtransaction level that set it
};

const RequestContext& request_context();

// Switches to the owner of `relid` (the extension's superuser owner) for `fn`, the way
// PostgreSQL's RI triggers do, so internal reads and writes do not depend on the caller's grants.
Oid relation_owner(Oid relid);
Oid internal_relid(const char* schema, const char* name);

}  // namespace coditect::pg
