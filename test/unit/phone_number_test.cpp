#include "phone_number.hpp"

#include <gtest/gtest.h>

using coditect::phone::calling_code_of;
using coditect::phone::normalize;

TEST(PhoneNumber, NationalFormsOfSeveralCountries) {
  struct Case {
    const char *number, *region, *e164;
    int code;
  } cases[] = {
      {"(201) 555-0123", "US", "+12015550123", 1},   {"020 7946 0958", "GB", "+442079460958", 44},
      {"030 901820", "DE", "+4930901820", 49},       {"03-1234-5678", "JP", "+81312345678", 81},
      {"01 23 45 67 89", "FR", "+33123456789", 33},  {"0412 345 678", "AU", "+61412345678", 61},
      {"(11) 2345-6789", "BR", "+551123456789", 55},
  };
  for (const auto& c : cases) {
    auto n = normalize(c.number, c.region);
    ASSERT_TRUE(n.ok) << c.number << " " << c.region << ": " << n.error;
    EXPECT_EQ(n.e164, c.e164);
    EXPECT_EQ(n.calling_code, c.code);
  }
}

TEST(PhoneNumber, InternationalFormMustBelongToTheRegion) {
  EXPECT_EQ(normalize("+44 20 7946 0958", "GB").e164, "+442079460958");
  auto n = normalize("+44 20 7946 0958", "US");
  EXPECT_FALSE(n.ok);
  EXPECT_NE(n.error.find("not a valid phone number of US"), std::string::npos);
  // +1 is shared: a Canadian number is not a US one.
  EXPECT_TRUE(normalize("+1 416 555 0199", "CA").ok);
  EXPECT_FALSE(normalize("+1 416 555 0199", "US").ok);
}

TEST(PhoneNumber, RefusesWhatIsNotAValidNumber) {
  EXPECT_FALSE(normalize("hello", "US").ok);
  EXPECT_FALSE(normalize("123", "US").ok);
  EXPECT_FALSE(normalize("(201) 555-0123", "ZZ").ok);
  EXPECT_FALSE(normalize("(201) 555-0123", "").ok);
  auto ext = normalize("(201) 555-0123 ext. 42", "US");
  EXPECT_FALSE(ext.ok);
  EXPECT_NE(ext.error.find("extension"), std::string::npos);
}

TEST(PhoneNumber, CallingCodes) {
  EXPECT_EQ(calling_code_of("US"), 1);
  EXPECT_EQ(calling_code_of("CA"), 1);
  EXPECT_EQ(calling_code_of("KW"), 965);
  EXPECT_EQ(calling_code_of("ZZ"), 0);
}
