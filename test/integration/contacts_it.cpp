// Integration tests of contacts, products and tax rates over real HTTP (issue 12 foundations):
// a phone number normalized to E.164 (201), an invalid one (422), a second default (409), a
// member writing another user's contacts (403), another tenant's entity (422); the global
// catalogs read by a member with filters. Against the gateway and database that
// scripts/test.sh starts; without the CODITECT_IT_* variables every test is skipped.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "http_client.hpp"
#include "it_support.hpp"

using coditect::it::HttpResult;
using nlohmann::json;

namespace {

struct ContactsWorld : coditect::it::Target {
  bool ready = false;
  std::string suffix, tenant, owner, member, other_user, product;

  void setup() {
    if (!connect()) return;
    suffix = std::to_string(std::random_device{}() % 1000000000);
    auto a = new_tenant("Contacts A");
    tenant = a.tenant;
    owner = a.owner;
    other_user = new_tenant("Contacts B").owner;
    member = add_member(tenant, "member");
    // The global catalogs are the service role's to write; tests write them as the superuser.
    product =
        sql("INSERT INTO coditect.products (name, unit_amount, currency) VALUES ($1, 1250, 'KWD') "
            "RETURNING id",
            {"Dinar plan " + suffix});
    sql("INSERT INTO coditect.tax_rates (display_name, percentage, country_code, state_code, "
        "tax_type, jurisdiction) VALUES ('NY sales tax', 8.875, 'US', 'US-NY', 'sales_tax', $1) "
        "RETURNING id",
        {"it-" + suffix});
    ready = true;
  }
};

ContactsWorld& W() {
  static ContactsWorld* w = [] {
    auto* x = new ContactsWorld();
    try {
      x->setup();
    } catch (const std::exception& e) {
      std::cerr << "contacts fixtures failed: " << e.what() << "\n";
      x->ready = false;
    }
    return x;
  }();
  return *w;
}

class ContactsIT : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!W().ready) GTEST_SKIP() << "set the CODITECT_IT_* variables (scripts/test.sh)";
    member_ = W().token(W().member, W().tenant, "member");
  }
  json phone(const std::string& number, const std::string& region, bool is_default) {
    return {{"entity_type", "user"}, {"entity_id", W().member}, {"phone_type", "mobile"},
            {"region_code", region}, {"phone_number", number},  {"is_default", is_default}};
  }
  std::string member_;
};

TEST_F(ContactsIT, PhoneNumbersAreStoredInE164) {
  HttpResult r = W().call("POST", "/api/v1/phone-numbers/", member_,
                          phone("020 7946 0958", "GB", true).dump());
  ASSERT_EQ(r.status, 201) << r.body;
  json row = json::parse(r.body);
  EXPECT_EQ(row["phone_number"], "+442079460958");
  EXPECT_EQ(row["country_code"], "+44");
  EXPECT_EQ(row["is_verified"], false);
  EXPECT_FALSE(row.contains("ref_user"));

  HttpResult bad = W().call("POST", "/api/v1/phone-numbers/", member_,
                            phone("+44 20 7946 0958", "US", false).dump());
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_NE(bad.body.find("not a valid phone number of US"), std::string::npos) << bad.body;

  HttpResult second = W().call("POST", "/api/v1/phone-numbers/", member_,
                               phone("(201) 555-0123", "US", true).dump());
  EXPECT_EQ(second.status, 409) << second.body;

  HttpResult list =
      W().call("GET", "/api/v1/phone-numbers/?entity_type=user&entity_id=" + W().member, member_);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(json::parse(list.body)["count"], 1);
}

TEST_F(ContactsIT, TheEntityIsCheckedAndOwned) {
  json mail = {{"entity_type", "user"}, {"email_type", "work"}, {"email", "x@it.test"}};
  mail["entity_id"] = W().owner;
  HttpResult theirs = W().call("POST", "/api/v1/email-addresses/", member_, mail.dump());
  EXPECT_EQ(theirs.status, 403) << theirs.body;

  const std::string owner = W().token(W().owner, W().tenant, "owner");
  mail["entity_id"] = W().other_user;
  HttpResult other_tenant = W().call("POST", "/api/v1/email-addresses/", owner, mail.dump());
  EXPECT_EQ(other_tenant.status, 422) << other_tenant.body;
  EXPECT_NE(other_tenant.body.find("not found in this tenant"), std::string::npos);
}

TEST_F(ContactsIT, MembersReadProductsAndTaxRates) {
  HttpResult p = W().call("GET", "/api/v1/products/" + W().product + "/", member_);
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(json::parse(p.body)["currency"], "KWD");
  EXPECT_EQ(json::parse(p.body)["unit_amount"], 1250);

  HttpResult t = W().call("GET", "/api/v1/tax-rates/?state_code=US-NY&jurisdiction=x", member_);
  EXPECT_EQ(t.status, 400) << t.body;  // jurisdiction is not a filter
  t = W().call("GET", "/api/v1/tax-rates/?state_code=US-NY", member_);
  ASSERT_EQ(t.status, 200) << t.body;
  bool found = false;
  const json rates = json::parse(t.body)["results"];
  for (const auto& rate : rates) found = found || rate["jurisdiction"] == "it-" + W().suffix;
  EXPECT_TRUE(found) << t.body;

  HttpResult w = W().call("POST", "/api/v1/products/", member_, R"({"name": "x"})");
  EXPECT_EQ(w.status, 405) << w.body;
}

}  // namespace
