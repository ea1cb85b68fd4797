/*
 * test_json.c - the streaming JSON writer (src/lib/core/json.c).
 *
 * Expected texts follow RFC 8259 (escapes of section 7, number grammar of
 * section 6) and RFC 4648 section 10's base64 test vectors.
 */
#include "nova/json.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>

static void check_text(int line, NovaJson *j, const char *expected)
{
    NovaError *err = NULL;
    if (!nova_json_finish(&err, j)) {
        test_fail(__FILE__, line, "finish failed: %s", nova_error_message(err));
        nova_error_free(err);
        nova_json_destroy(j);
        return;
    }
    size_t len = 0;
    const char *got = nova_json_get_buffer(j, &len);
    if (!got || strcmp(got, expected) != 0 || len != strlen(expected))
        test_fail(__FILE__, line, "got '%s', expected '%s'",
                  got ? got : "(null)", expected);
    nova_json_destroy(j);
}

static void test_compact(void)
{
    NovaJson *j = nova_json_create_buffer(NULL, NOVA_JSON_COMPACT);
    CHECK(j != NULL);
    nova_json_begin_object(j);
    nova_json_key(j, "a");
    nova_json_int(j, -12);
    nova_json_key(j, "b");
    nova_json_begin_array(j);
    nova_json_uint(j, 18446744073709551615ull);
    nova_json_bool(j, true);
    nova_json_null(j);
    nova_json_string(j, "x");
    nova_json_begin_object(j);
    nova_json_end_object(j);
    nova_json_begin_array(j);
    nova_json_end_array(j);
    nova_json_end_array(j);
    nova_json_end_object(j);
    check_text(
        __LINE__, j,
        "{\"a\":-12,\"b\":[18446744073709551615,true,null,\"x\",{},[]]}");
}

static void test_pretty(void)
{
    NovaJson *j = nova_json_create_buffer(NULL, NOVA_JSON_PRETTY);
    nova_json_begin_object(j);
    nova_json_key(j, "vr");
    nova_json_string(j, "PN");
    nova_json_key(j, "Value");
    nova_json_begin_array(j);
    nova_json_int(j, 1);
    nova_json_int(j, 2);
    nova_json_end_array(j);
    nova_json_key(j, "e");
    nova_json_begin_array(j);
    nova_json_end_array(j);
    nova_json_end_object(j);
    check_text(__LINE__, j,
               "{\n  \"vr\": \"PN\",\n  \"Value\": [\n    1,\n    2\n  ],\n"
               "  \"e\": []\n}\n");
}

static void test_escapes(void)
{
    NovaJson *j = nova_json_create_buffer(NULL, 0);
    nova_json_begin_array(j);
    /* RFC 8259 7: quote, backslash and controls must be escaped; the
     * solidus and non-ASCII need not be. */
    nova_json_string(j, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f");
    nova_json_string(j, "\xc3\xa9\xe5\xb1\xb1\xf0\x9f\x98\x80");
    /* Invalid UTF-8: lone continuation, truncated, overlong, surrogate. */
    nova_json_string(j, "a\x80"
                        "b\xe5\xb1"
                        "c\xc0\xaf"
                        "d\xed\xa0\x80");
    /* Embedded NUL through the length form. */
    nova_json_string_len(j, "n\0m", 3);
    nova_json_end_array(j);
    check_text(__LINE__, j,
               "[\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\","
               "\"\xc3\xa9\xe5\xb1\xb1\xf0\x9f\x98\x80\","
               "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffdd\\ufffd\\ufffd"
               "\\ufffd\","
               "\"n\\u0000m\"]");
}

static void test_numbers(void)
{
    NovaJson *j = nova_json_create_buffer(NULL, 0);
    nova_json_begin_array(j);
    nova_json_double(j, 0.1);
    /* Shortest round-trip forms, as Python repr() and numpy print them. */
    nova_json_double(j, 1.0 / 3.0);
    nova_json_double(j, -2.5e-300);
    nova_json_double(j, NAN);
    nova_json_float(j, 0.1f);
    nova_json_float(j, 3.4028235e38f);
    nova_json_number_text(j, "-1.5E+3", 7);
    nova_json_number_text(j, "+1", 2);
    nova_json_number_text(j, ".5", 2);
    nova_json_number_text(j, "007", 3);
    nova_json_number_text(j, "1.", 2);
    nova_json_number_text(j, "abc", 3);
    nova_json_number_text(j, "nan", 3);
    nova_json_end_array(j);
    check_text(__LINE__, j,
               "[0.1,0.3333333333333333,-2.5e-300,null,0.1,3.4028235e+38,"
               "-1.5E+3,1,0.5,7,1,\"abc\",\"nan\"]");
}

static void test_base64(void)
{
    /* RFC 4648 section 10. */
    static const char *const vectors[][2] = {{"", ""},
                                             {"f", "Zg=="},
                                             {"fo", "Zm8="},
                                             {"foo", "Zm9v"},
                                             {"foob", "Zm9vYg=="},
                                             {"fooba", "Zm9vYmE="},
                                             {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < 7; i++) {
        NovaJson *j = nova_json_create_buffer(NULL, 0);
        nova_json_base64(j, vectors[i][0], strlen(vectors[i][0]));
        char expected[32];
        snprintf(expected, sizeof expected, "\"%s\"", vectors[i][1]);
        check_text(__LINE__, j, expected);
    }
    /* Long input crosses the internal chunk size. */
    uint8_t data[1000];
    for (int i = 0; i < 1000; i++)
        data[i] = (uint8_t)(i * 7);
    NovaJson *j = nova_json_create_buffer(NULL, 0);
    nova_json_base64(j, data, sizeof data);
    NovaError *err = NULL;
    CHECK(nova_json_finish(&err, j));
    size_t len;
    const char *text = nova_json_get_buffer(j, &len);
    CHECK_EQ_INT(len, 2 + 4 * 334);
    /* Decode back and compare. */
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    int mismatches = 0;
    for (size_t i = 0; i < 333; i++) {
        uint32_t v = 0;
        for (int k = 0; k < 4; k++)
            v = v << 6 |
                (uint32_t)(strchr(alphabet, text[1 + 4 * i + k]) - alphabet);
        for (int k = 0; k < 3; k++)
            mismatches += (uint8_t)(v >> (16 - 8 * k)) != data[3 * i + k];
    }
    CHECK_EQ_INT(mismatches, 0);
    nova_json_destroy(j);
}

static void expect_misuse(int line, NovaJson *j)
{
    NovaError *err = NULL;
    if (nova_json_finish(&err, j))
        test_fail(__FILE__, line, "misuse not reported");
    else if (nova_error_code(err) != NOVA_ERROR_INTERNAL &&
             nova_error_code(err) != NOVA_ERROR_RANGE)
        test_fail(__FILE__, line, "unexpected error %s",
                  nova_error_message(err));
    nova_error_free(err);
    nova_json_destroy(j);
}

static void test_misuse(void)
{
    NovaJson *j = nova_json_create_buffer(NULL, 0);
    nova_json_begin_object(j);
    nova_json_int(j, 1); /* value without key */
    expect_misuse(__LINE__, j);

    j = nova_json_create_buffer(NULL, 0);
    nova_json_begin_array(j);
    nova_json_key(j, "k"); /* key in array */
    expect_misuse(__LINE__, j);

    j = nova_json_create_buffer(NULL, 0);
    nova_json_begin_array(j);
    nova_json_end_object(j); /* wrong close */
    expect_misuse(__LINE__, j);

    j = nova_json_create_buffer(NULL, 0);
    nova_json_begin_object(j); /* unclosed */
    expect_misuse(__LINE__, j);

    j = nova_json_create_buffer(NULL, 0);
    nova_json_int(j, 1);
    nova_json_int(j, 2); /* two top-level values */
    expect_misuse(__LINE__, j);

    j = nova_json_create_buffer(NULL, 0);
    for (int i = 0; i < NOVA_JSON_MAX_DEPTH + 1; i++)
        nova_json_begin_array(j);
    expect_misuse(__LINE__, j);
}

static void test_file_and_failures(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/json_out.json", test_tmp_dir());
    FILE *f = fopen(path, "w+");
    CHECK(f != NULL);
    if (!f)
        return;
    NovaJson *j = nova_json_create_file(NULL, f, 0);
    CHECK(nova_json_get_buffer(j, NULL) == NULL);
    nova_json_begin_array(j);
    /* Enough to pass the internal flush threshold several times. */
    for (int i = 0; i < 50000; i++)
        nova_json_int(j, i);
    nova_json_end_array(j);
    NovaError *err = NULL;
    CHECK(nova_json_finish(&err, j));
    CHECK_OK(err);
    nova_json_destroy(j);
    long size = ftell(f);
    /* "[" + numbers + 49999 commas + "]" */
    long digits = 0;
    for (int i = 0; i < 50000; i++)
        digits += i < 10 ? 1 : i < 100 ? 2 : i < 1000 ? 3 : i < 10000 ? 4 : 5;
    CHECK_EQ_INT(size, 2 + digits + 49999);
    fclose(f);

    /* Writing to a read-only stream fails at finish with an I/O error. */
    f = fopen(path, "r");
    j = nova_json_create_file(NULL, f, 0);
    nova_json_string(j, "x");
    CHECK(!nova_json_finish(&err, j));
    CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_IO);
    nova_error_clear(&err);
    nova_json_destroy(j);
    fclose(f);

    /* Out of memory while growing the buffer. */
    j = nova_json_create_buffer(NULL, 0);
    nova_json_begin_array(j);
    nova_alloc_fail_after(0);
    for (int i = 0; i < 2000; i++)
        nova_json_string(j, "0123456789");
    nova_alloc_fail_after(-1);
    nova_json_end_array(j);
    CHECK(!nova_json_finish(&err, j));
    CHECK_EQ_INT(nova_error_code(err), NOVA_ERROR_NOMEM);
    nova_error_clear(&err);
    nova_json_destroy(j);
    nova_json_destroy(NULL);
}

int main(void)
{
    RUN(test_compact);
    RUN(test_pretty);
    RUN(test_escapes);
    RUN(test_numbers);
    RUN(test_base64);
    RUN(test_misuse);
    RUN(test_file_and_failures);
    return test_done();
}
