// Integration tests over real HTTP of issue 12's Idempotency-Key and Stripe webhook: a repeated
// POST answered with the first answer and no second effect, a different body refused, another
// tenant's same key independent, concurrent duplicates making one effect, a refused request
// leaving its key free, a secret's answer never kept (a repeat 409, no second effect), the
// tenant's quota of live keys (429, nothing run), the key refused where it is not taken (400);
// a signed Stripe event received once, bad and stale signatures refused,
// a redelivered event changing nothing; a purchase from a guest cart to a paid order and its
// refund through Stripe's events. Against the gateway and database that scripts/test.sh
// starts; without the CODITECT_IT_* variables every test is skipped.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <chrono>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "it_support.hpp"
#include "webhook_signature.hpp"

using coditect::it::Headers;
using coditect::it::HttpResult;
using nlohmann::json;

namespace {

struct IdemWorld : coditect::it::Target {
  bool ready = false;
  std::string suffix, tenant_a, owner_a, tenant_b, owner_b;

  void setup() {
    if (!connect()) return;
    suffix = std::to_string(std::random_device{}() % 1000000000);
    TenantIds a = new_tenant("Idem A"), b = new_tenant("Idem B");
    tenant_a = a.tenant;
    owner_a = a.owner;
    tenant_b = b.tenant;
    owner_b = b.owner;
    ready = true;
  }

  HttpResult post(const std::string& target, const std::string& token, const std::string& body,
                  const std::string& key) {
    return call("POST", target, token, body,
                key.empty() ? Headers{} : Headers{{"Idempotency-Key", key}});
  }
  std::string projects(const std::string& tenant, const std::string& name) {
    return sql("SELECT count(*) FROM coditect.projects WHERE tenant_id = $1 AND name = $2",
               {tenant, name});
  }
};

IdemWorld& W() {
  static IdemWorld* w = [] {
    auto* x = new IdemWorld();
    try {
      x->setup();
    } catch (const std::exception& e) {
      std::cerr << "idempotency fixtures failed: " << e.what() << "\n";
      x->ready = false;
    }
    return x;
  }();
  return *w;
}

class IdempotencyIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!W().ready) GTEST_SKIP() << "set the CODITECT_IT_* variables (scripts/test.sh)";
    a_ = W().token(W().owner_a, W().tenant_a, "owner");
    b_ = W().token(W().owner_b, W().tenant_b, "owner");
  }
  std::string a_, b_;
};

TEST_F(IdempotencyIT, ARepeatedPostAnswersTheFirstAnswerWithoutASecondEffect) {
  const std::string name = "idem once " + W().suffix, key = "create-" + W().suffix;
  const std::string body = json{{"name", name}}.dump();
  HttpResult first = W().post("/api/v1/projects/", a_, body, key);
  ASSERT_EQ(first.status, 201) << first.body;
  EXPECT_EQ(first.header("idempotent-replayed"), "");
  HttpResult again = W().post("/api/v1/projects/", a_, body, key);
  ASSERT_EQ(again.status, 201) << again.body;
  EXPECT_EQ(again.header("idempotent-replayed"), "true");
  EXPECT_EQ(again.body, first.body);
  EXPECT_EQ(again.header("etag"), first.header("etag"));
  EXPECT_EQ(W().projects(W().tenant_a, name), "1");

  // The same key with another body: refused, nothing made.
  HttpResult other = W().post("/api/v1/projects/", a_, json{{"name", name + " bis"}}.dump(), key);
  EXPECT_EQ(other.status, 409) << other.body;
  EXPECT_NE(json::parse(other.body)["detail"].get<std::string>().find("different request"),
            std::string::npos)
      << other.body;
  EXPECT_EQ(W().projects(W().tenant_a, name + " bis"), "0");

  // Another tenant's same key and body: its own request.
  HttpResult theirs = W().post("/api/v1/projects/", b_, body, key);
  ASSERT_EQ(theirs.status, 201) << theirs.body;
  EXPECT_EQ(theirs.header("idempotent-replayed"), "");
  EXPECT_NE(json::parse(theirs.body)["id"], json::parse(first.body)["id"]);
  EXPECT_EQ(W().projects(W().tenant_b, name), "1");
  EXPECT_EQ(W().projects(W().tenant_a, name), "1");

  // Without the header nothing is replayed.
  HttpResult plain = W().post("/api/v1/projects/", a_, json{{"name", name + " 2"}}.dump(), "");
  EXPECT_EQ(plain.status, 201) << plain.body;
}

TEST_F(IdempotencyIT, MalformedKeysAre400AndRefusedRequestsLeaveTheKeyFree) {
  EXPECT_EQ(W().post("/api/v1/projects/", a_, R"({"name": "x"})", std::string(256, 'k')).status,
            400);
  const std::string key = "retry-" + W().suffix, name = "idem retried " + W().suffix;
  HttpResult refused = W().post("/api/v1/projects/", a_, R"({"name": 42})", key);
  ASSERT_GE(refused.status, 400) << refused.body;
  ASSERT_LT(refused.status, 500) << refused.body;
  HttpResult fixed = W().post("/api/v1/projects/", a_, json{{"name", name}}.dump(), key);
  EXPECT_EQ(fixed.status, 201) << fixed.body;
  EXPECT_EQ(fixed.header("idempotent-replayed"), "");
  EXPECT_EQ(W().projects(W().tenant_a, name), "1");
}

TEST_F(IdempotencyIT, ConcurrentDuplicatesMakeOneEffect) {
  const std::string name = "idem raced " + W().suffix, key = "race-" + W().suffix;
  const std::string body = json{{"name", name}}.dump();
  constexpr int kClients = 4;
  std::vector<HttpResult> results(kClients);
  std::vector<std::thread> threads;
  // The projects table locked meanwhile: the first request holds its claim while it waits for
  // it, the others wait for that claim; released once every client waits in the database, or
  // after 1.5 s, well inside the gateway's 3 s statement timeout of the tests (on a loaded
  // machine a late client then finds the finished key: a replay, which the checks allow).
  W().sql("BEGIN");
  W().sql("LOCK TABLE coditect.projects IN EXCLUSIVE MODE");
  for (int i = 0; i < kClients; ++i)
    threads.emplace_back([&, i] { results[i] = W().post("/api/v1/projects/", a_, body, key); });
  for (int i = 0; i < 150; ++i) {
    if (std::stoi(W().sql("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                          "current_database() AND wait_event_type = 'Lock'")) >= kClients)
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  W().sql("COMMIT");
  for (auto& t : threads) t.join();
  int fresh = 0;
  for (const auto& r : results) {
    ASSERT_EQ(r.status, 201) << r.body;
    EXPECT_EQ(r.body, results[0].body);
    if (r.header("idempotent-replayed").empty()) ++fresh;
  }
  EXPECT_EQ(fresh, 1);
  EXPECT_EQ(W().projects(W().tenant_a, name), "1");
}

TEST_F(IdempotencyIT, AnAnswerHoldingASecretIsNotKeptAndNotRunAgain) {
  HttpResult made = W().post("/api/v1/webhook-endpoints/", a_,
                             json{{"name", "idem " + W().suffix},
                                  {"url", "https://hooks.example.com/idem"},
                                  {"events", {"workflow.failed"}}}
                                 .dump(),
                             "");
  ASSERT_EQ(made.status, 201) << made.body;
  const std::string id = json::parse(made.body)["id"], key = "rotate-" + W().suffix;
  const std::string target = "/api/v1/webhook-endpoints/" + id + "/rotate-secret/";
  auto rotated_at = [&] {
    return W().sql("SELECT secret_rotated_at FROM coditect.webhook_endpoints WHERE id = $1", {id});
  };
  HttpResult first = W().post(target, a_, "", key);
  ASSERT_EQ(first.status, 200) << first.body;
  const std::string secret = json::parse(first.body)["secret"];
  EXPECT_FALSE(secret.empty());
  const std::string at = rotated_at();
  EXPECT_EQ(W().sql("SELECT concat_ws(' ', status, secret, body IS NULL, headers IS NULL) FROM "
                    "coditect_internal.idempotency_keys WHERE idem_key = $1",
                    {key}),
            "200 t t t")
      << "nothing of the answer is stored";
  HttpResult again = W().post(target, a_, "", key);
  ASSERT_EQ(again.status, 409) << again.body;
  EXPECT_NE(again.body.find("held a secret, which is not kept"), std::string::npos) << again.body;
  EXPECT_EQ(again.body.find(secret), std::string::npos);
  EXPECT_EQ(rotated_at(), at) << "the key blocks a second rotation";
}

TEST_F(IdempotencyIT, BeyondTheTenantsQuotaAPostWithAKeyIs429AndNotRun) {
  // Tenant B may hold one live key more than it holds now.
  W().sql(
      "INSERT INTO coditect_internal.idempotency_quotas (tenant_id, max_live_keys) "
      "SELECT $1, count(*) + 1 FROM coditect_internal.idempotency_keys WHERE tenant_id = $1 "
      "AND created_at > now() - interval '24 hours'",
      {W().tenant_b});
  const std::string name = "idem quota " + W().suffix;
  HttpResult within =
      W().post("/api/v1/projects/", b_, json{{"name", name}}.dump(), "quota-1-" + W().suffix);
  EXPECT_EQ(within.status, 201) << within.body;
  HttpResult beyond = W().post("/api/v1/projects/", b_, json{{"name", name + " 2"}}.dump(),
                               "quota-2-" + W().suffix);
  EXPECT_EQ(beyond.status, 429) << beyond.body;
  json p = json::parse(beyond.body, nullptr, false);
  EXPECT_EQ(p.value("code", ""), "CD429") << beyond.body;
  EXPECT_NE(p.value("detail", "").find("live Idempotency-Keys, its quota"), std::string::npos);
  EXPECT_NE(p.value("hint", "").find("Retry after"), std::string::npos) << beyond.body;
  EXPECT_EQ(W().projects(W().tenant_b, name + " 2"), "0") << "a refused request was not run";
  // A replay is no claim, and a request without a key is not counted.
  EXPECT_EQ(W().post("/api/v1/projects/", b_, json{{"name", name}}.dump(), "quota-1-" + W().suffix)
                .header("idempotent-replayed"),
            "true");
  EXPECT_EQ(W().post("/api/v1/projects/", b_, json{{"name", name + " 2"}}.dump(), "").status, 201);
  W().sql("DELETE FROM coditect_internal.idempotency_quotas WHERE tenant_id = $1", {W().tenant_b});
}

TEST_F(IdempotencyIT, AKeyIsRefusedWhereItIsNotTaken) {
  const Headers key = {{"Idempotency-Key", "nowhere-" + W().suffix}};
  const std::string carts = "SELECT count(*) FROM coditect_internal.guest_carts";
  const std::string before = W().sql(carts);
  HttpResult guest = W().call("POST", "/api/v1/guest-carts/", "", "", key);
  EXPECT_EQ(guest.status, 400) << guest.body;
  EXPECT_NE(guest.body.find("does not take an Idempotency-Key"), std::string::npos) << guest.body;
  EXPECT_EQ(W().sql(carts), before) << "nothing was run";
  HttpResult stripe = W().call("POST", "/api/v1/webhooks/stripe", "", "{}", key);
  EXPECT_EQ(stripe.status, 400) << stripe.body;
  Headers tus = key;
  tus.insert(tus.end(), {{"Tus-Resumable", "1.0.0"},
                         {"Upload-Length", "3"},
                         {"Upload-Metadata", "filename YS50eHQ=,filetype dGV4dC9wbGFpbg=="}});
  HttpResult upload = W().call("POST", "/api/v1/uploads/", a_, "", tus);
  EXPECT_EQ(upload.status, 400) << upload.body;
  EXPECT_NE(upload.body.find("an upload"), std::string::npos) << upload.body;
}

class StripeWebhookIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!W().ready) GTEST_SKIP() << "set the CODITECT_IT_* variables (scripts/test.sh)";
    W().sql("SELECT coditect.set_stripe_webhook_secret($1)", {secret_});
  }
  HttpResult deliver(const std::string& body, const std::string& signature) {
    Headers h = {{"Content-Type", "application/json"}};
    if (!signature.empty()) h.push_back({"Stripe-Signature", signature});
    return coditect::it::http_request(W().host, W().port, "POST", "/api/v1/webhooks/stripe", body,
                                      h);
  }
  std::string stored(const std::string& id) {
    return W().sql(
        "SELECT count(*) || ' ' || coalesce(min(status), '-') || ' ' || "
        "coalesce(min(data_object ->> 'amount_received'), '-') "
        "FROM coditect_internal.stripe_events WHERE event_id = $1",
        {id});
  }
  const std::string secret_ = "whsec_it_0123456789abcdef0123";
};

TEST_F(StripeWebhookIT, SignedEventsAreReceivedOnceAndBadSignaturesRefused) {
  const std::string id = "evt_it_" + W().suffix;
  json event = {{"id", id},
                {"object", "event"},
                {"api_version", "2024-06-20"},
                {"created", 1719835200},
                {"livemode", false},
                {"pending_webhooks", 1},
                {"request", {{"id", nullptr}, {"idempotency_key", nullptr}}},
                {"type", "payment_intent.succeeded"},
                {"data",
                 {{"object",
                   {{"id", "pi_it_1"},
                    {"object", "payment_intent"},
                    {"amount", 2000},
                    {"amount_received", 2000},
                    {"currency", "usd"},
                    {"status", "succeeded"}}}}}};
  const std::string body = event.dump();
  std::time_t now = std::time(nullptr);

  HttpResult bad = deliver(body, coditect::webhook::sign("whsec_guess_0123456789abc", now, body));
  EXPECT_EQ(bad.status, 401) << bad.body;
  HttpResult stale = deliver(body, coditect::webhook::sign(secret_, now - 600, body));
  EXPECT_EQ(stale.status, 401) << stale.body;
  EXPECT_NE(json::parse(stale.body)["detail"].get<std::string>().find("stale"), std::string::npos);
  EXPECT_EQ(deliver(body, "").status, 401);
  EXPECT_EQ(stored(id), "0 - -");

  HttpResult ok = deliver(body, coditect::webhook::sign(secret_, now, body));
  ASSERT_EQ(ok.status, 200) << ok.body;
  // Its handler finds no customer in it: stored, refused with the reason.
  EXPECT_EQ(json::parse(ok.body),
            json::parse(R"({"received": true, "event_id": ")" + id +
                        R"(", "type": "payment_intent.succeeded", "status": "refused",
                            "reason": "payment_intent pi_it_1 names no customer",
                            "already_received": false})"));
  EXPECT_EQ(stored(id), "1 refused 2000");

  // Stripe redelivers (a new signature; here with a changed amount too): nothing changes.
  event["data"]["object"]["amount_received"] = 1;
  const std::string changed = event.dump();
  HttpResult again = deliver(changed, coditect::webhook::sign(secret_, now + 1, changed));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["already_received"], true);
  EXPECT_EQ(stored(id), "1 refused 2000");

  const std::string broken = R"({"id": "evt_broken", )";
  EXPECT_EQ(deliver(broken, coditect::webhook::sign(secret_, now, broken)).status, 400);
}

// The purchase end to end: a guest cart, claimed at sign-in, checked out; Stripe's signed
// payment_intent.succeeded pays the order (its license visible through the API); Stripe's
// charge.refunded refunds it (the license switched off); the same webhook again changes nothing.
TEST_F(StripeWebhookIT, GuestCartToPaidOrderToRefundThroughStripeEvents) {
  const std::string customer = "cus_it_" + W().suffix;
  // Claimed first, as set_stripe_customer does (on Citus the shard's trigger only checks it).
  W().sql("SELECT coditect_internal.global_key_claim('tenants.stripe_customer_id', $2, $1, $1)",
          {W().tenant_a, customer});
  W().sql("UPDATE coditect.tenants SET stripe_customer_id = $2 WHERE id = $1",
          {W().tenant_a, customer});
  const std::string product = W().sql(
      "INSERT INTO coditect.products (name, unit_amount, currency, grants_license, license_tier, "
      "license_seats, license_duration_days) VALUES ($1, 2500, 'USD', true, 'PRO', 2, 365) "
      "RETURNING id",
      {"IT desktop " + W().suffix});
  const std::string owner = W().token(W().owner_a, W().tenant_a, "owner");

  HttpResult guest = W().call("POST", "/api/v1/guest-carts/", "");
  ASSERT_EQ(guest.status, 201) << guest.body;
  const std::string cart_token = json::parse(guest.body)["token"].get<std::string>();
  HttpResult added = W().call("POST", "/api/v1/guest-carts/" + cart_token + "/add/", "",
                              json{{"product_id", product}, {"quantity", 2}}.dump());
  ASSERT_EQ(added.status, 200) << added.body;
  HttpResult claimed = W().call("POST", "/api/v1/guest-carts/" + cart_token + "/claim/", owner);
  ASSERT_EQ(claimed.status, 201) << claimed.body;
  const std::string cart = json::parse(claimed.body)["id"].get<std::string>();
  HttpResult placed = W().call("POST", "/api/v1/carts/" + cart + "/checkout/", owner,
                               json{{"country_code", "US"}}.dump());
  ASSERT_EQ(placed.status, 201) << placed.body;
  const json order = json::parse(placed.body);
  const std::string oid = order["id"].get<std::string>();
  // 2 x 25.00 USD, and whatever tax another suite's rate adds in the US.
  const long long total = order["total_amount"].get<long long>();
  ASSERT_GE(total, 5000);
  ASSERT_EQ(order["status"], "pending");

  const std::string pi = "pi_it_" + W().suffix, charge = "ch_it_" + W().suffix;
  std::time_t now = std::time(nullptr);
  json paid = {{"id", "evt_it_paid_" + W().suffix},
               {"object", "event"},
               {"api_version", "2024-06-20"},
               {"created", now},
               {"livemode", false},
               {"type", "payment_intent.succeeded"},
               {"data",
                {{"object",
                  {{"id", pi},
                   {"object", "payment_intent"},
                   {"amount", total},
                   {"amount_received", total},
                   {"currency", "usd"},
                   {"customer", customer},
                   {"status", "succeeded"},
                   {"latest_charge", charge},
                   {"payment_method_types", {"card"}},
                   {"metadata", {{"order_id", oid}}}}}}}};
  const std::string paid_body = paid.dump();
  HttpResult hook = deliver(paid_body, coditect::webhook::sign(secret_, now, paid_body));
  ASSERT_EQ(hook.status, 200) << hook.body;
  EXPECT_EQ(json::parse(hook.body)["status"], "processed") << hook.body;

  HttpResult got = W().call("GET", "/api/v1/orders/" + oid + "/", owner);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(json::parse(got.body)["status"], "paid");
  EXPECT_EQ(json::parse(got.body)["stripe_payment_intent_id"], pi);
  HttpResult payments = W().call("GET", "/api/v1/payments/?order_id=" + oid, owner);
  ASSERT_EQ(payments.status, 200) << payments.body;
  ASSERT_EQ(json::parse(payments.body)["count"], 1);
  EXPECT_EQ(json::parse(payments.body)["results"][0]["stripe_charge_id"], charge);
  HttpResult ents =
      W().call("GET", "/api/v1/entitlements/?source_type=order&product_id=" + product, owner);
  ASSERT_EQ(ents.status, 200) << ents.body;
  ASSERT_EQ(json::parse(ents.body)["count"], 1) << ents.body;
  const std::string license = json::parse(ents.body)["results"][0]["license_id"].get<std::string>();
  HttpResult lic = W().call("GET", "/api/v1/licenses/" + license + "/", owner);
  ASSERT_EQ(lic.status, 200) << lic.body;
  EXPECT_EQ(json::parse(lic.body)["tier"], "PRO");
  EXPECT_EQ(json::parse(lic.body)["seats_total"], 4);
  EXPECT_EQ(json::parse(lic.body)["is_active"], true);

  json refunded = {{"id", "evt_it_refund_" + W().suffix},
                   {"object", "event"},
                   {"api_version", "2024-06-20"},
                   {"created", now + 1},
                   {"livemode", false},
                   {"type", "charge.refunded"},
                   {"data",
                    {{"object",
                      {{"id", charge},
                       {"object", "charge"},
                       {"amount", total},
                       {"amount_refunded", total},
                       {"currency", "usd"},
                       {"customer", customer},
                       {"payment_intent", pi},
                       {"refunded", true},
                       {"refunds",
                        {{"object", "list"},
                         {"data",
                          {{{"id", "re_it_" + W().suffix},
                            {"object", "refund"},
                            {"amount", total},
                            {"currency", "usd"},
                            {"reason", "requested_by_customer"},
                            {"status", "succeeded"}}}}}}}}}}};
  const std::string refund_body = refunded.dump();
  HttpResult refund = deliver(refund_body, coditect::webhook::sign(secret_, now, refund_body));
  ASSERT_EQ(refund.status, 200) << refund.body;
  EXPECT_EQ(json::parse(refund.body)["status"], "processed") << refund.body;
  auto refunds = [&] {
    HttpResult r = W().call("GET", "/api/v1/refunds/?order_id=" + oid, owner);
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body);
  };
  ASSERT_EQ(refunds()["count"], 1);
  EXPECT_EQ(refunds()["results"][0]["stripe_refund_id"], "re_it_" + W().suffix);
  EXPECT_EQ(refunds()["results"][0]["amount"], total);
  EXPECT_EQ(json::parse(W().call("GET", "/api/v1/orders/" + oid + "/", owner).body)["status"],
            "refunded");
  EXPECT_EQ(
      json::parse(W().call("GET", "/api/v1/licenses/" + license + "/", owner).body)["is_active"],
      false);

  // Stripe delivers the refund again (a new signature): nothing changes.
  HttpResult again = deliver(refund_body, coditect::webhook::sign(secret_, now + 2, refund_body));
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body)["already_received"], true);
  EXPECT_EQ(refunds()["count"], 1);
  EXPECT_EQ(W().sql("SELECT count(*) FROM coditect.refunds WHERE order_id = $1", {oid}), "1");
  EXPECT_EQ(W().sql("SELECT amount_refunded FROM coditect.payments WHERE order_id = $1", {oid}),
            std::to_string(total));
}

}  // namespace
