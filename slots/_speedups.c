/* slots._speedups: optional C twins of the scanner's hottest byte loops.
 *
 * Rule: every function here returns exactly what its Python twin in slots/scanner.py returns
 * (the twin is the fallback and the oracle; tests/slots/test_speedups.py holds them equal).
 * Only bytes objects are accepted; positions are clamped the way re's match(pos, endpos) clamps
 * them; every index is checked against its bound before it is read. No global state.
 *
 *   hits(html) -> (markers, candidates)                  twin of _hits_py
 *   quoted_gt(html, pos, end) -> bool                    twin of _quoted_gt_py
 *   skip_end(html, pos, stop) -> int                     twin of _skip_end_py (_SKIP.match(...).end())
 *   frag_token(html, pos, limit, lax) -> tuple | None    twin of _frag_token_py (_FRAG_LAX/_STRICT)
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef const unsigned char *bytes_t;

static int is_ws(unsigned char c) { return c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '; }
static int is_alpha(unsigned char c) { return (unsigned char)((c | 0x20) - 'a') < 26; }
static int is_lower_alnum(unsigned char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
static unsigned char to_lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c; }
/* Where a tag name ends: whitespace, '/' or '>' (the same bytes as the regexes' [\t\n\f\r />] lookaheads). */
static int is_name_end(unsigned char c) { return is_ws(c) || c == '/' || c == '>'; }

/* s[0:n] equals the lower-case ASCII word w, ignoring ASCII case. */
static int eq_nocase(bytes_t s, Py_ssize_t n, const char *w) {
    Py_ssize_t k = 0;
    for (; k < n; k++) {
        if (w[k] == '\0' || to_lower(s[k]) != (unsigned char)w[k])
            return 0;
    }
    return w[k] == '\0';
}

/* s[0:n] is exactly one of the words (case-sensitive). */
static int in_words(bytes_t s, Py_ssize_t n, const char *const *words) {
    for (; *words != NULL; words++) {
        if ((Py_ssize_t)strlen(*words) == n && memcmp(s, *words, (size_t)n) == 0)
            return 1;
    }
    return 0;
}

static int in_words_nocase(bytes_t s, Py_ssize_t n, const char *const *words) {
    for (; *words != NULL; words++) {
        if (eq_nocase(s, n, *words))
            return 1;
    }
    return 0;
}

static const char *const INTERESTING_START[] = {
    "script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes", "noscript", "plaintext",
    "template", "svg", "math", "head", "body", "meta", "select", "frameset", NULL};
static const char *const INTERESTING_END[] = {"template", "svg", "math", "head", "select", NULL};
/* _hit_patterns(): the first bytes of every opener. */
static const char *const START_PREFIXES[] = {
    "scri", "styl", "text", "titl", "xmp", "ifra", "noem", "nofr", "nosc", "plai", "temp", "svg", "math", "head",
    "body", "meta", "sele", "fram", NULL};
static const char *const END_PREFIXES[] = {"tem", "svg", "mat", "hea", "sel", NULL};
/* tokenizer.VOID; parse_fast's strict mode leaves out the p-closers among them (hr). */
static const char *const VOID_LAX[] = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param",
    "keygen", "frame", "basefont", "bgsound", "image", NULL};
static const char *const VOID_STRICT[] = {
    "area", "base", "br", "col", "embed", "img", "input", "link", "meta", "source", "track", "wbr", "param",
    "keygen", "frame", "basefont", "bgsound", "image", NULL};
/* _frag_token()'s closers: VOID | _RAW | FOREIGN | template li dt dd option (| _P_CLOSERS when strict). */
static const char *const CLOSERS[] = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param",
    "keygen", "frame", "basefont", "bgsound", "image", "style", "xmp", "iframe", "noembed", "noframes", "noscript",
    "textarea", "title", "script", "plaintext", "svg", "math", "template", "li", "dt", "dd", "option", NULL};
static const char *const P_CLOSERS[] = {
    "address", "article", "aside", "blockquote", "details", "div", "dl", "fieldset", "figcaption", "figure",
    "footer", "header", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "main", "menu", "nav", "ol", "p", "pre",
    "section", "table", "ul", NULL};

/* Parse (bytes, int, int[, ...]) and clamp like re: 0 <= pos <= n, pos <= end <= n. */
static int parse_range(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, const char *fname, bytes_t *s,
                       Py_ssize_t *n, Py_ssize_t *pos, Py_ssize_t *end) {
    if (nargs != want) {
        PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", fname, want, nargs);
        return -1;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "%s() argument 1 must be bytes, not %.100s", fname, Py_TYPE(args[0])->tp_name);
        return -1;
    }
    *s = (bytes_t)PyBytes_AS_STRING(args[0]);
    *n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t a = PyLong_AsSsize_t(args[1]);
    if (a == -1 && PyErr_Occurred())
        return -1;
    Py_ssize_t b = PyLong_AsSsize_t(args[2]);
    if (b == -1 && PyErr_Occurred())
        return -1;
    if (a < 0)
        a = 0;
    if (a > *n)
        a = *n;
    if (b > *n)
        b = *n;
    if (b < a)
        b = a;
    *pos = a;
    *end = b;
    return 0;
}

/* tokenizer.ATTRS, possessive, from i within [i, end): where it stops ('>' or end).
 * no_data: an attribute name may not start with "data-" (any case): the loop stops there, before it. */
static Py_ssize_t attrs_end(bytes_t s, Py_ssize_t i, Py_ssize_t end, int no_data) {
    while (i < end) {
        unsigned char c = s[i];
        if (is_ws(c) || c == '/') {
            i++;
            continue;
        }
        if (c == '>')
            break;
        if (no_data && end - i >= 5 && to_lower(s[i]) == 'd' && to_lower(s[i + 1]) == 'a' &&
            to_lower(s[i + 2]) == 't' && to_lower(s[i + 3]) == 'a' && s[i + 4] == '-')
            break;
        i++;
        while (i < end && !is_name_end(s[i]) && s[i] != '=')
            i++;
        Py_ssize_t j = i;
        while (j < end && is_ws(s[j]))
            j++;
        if (j < end && s[j] == '=') {
            j++;
            while (j < end && is_ws(s[j]))
                j++;
            if (j < end && (s[j] == '"' || s[j] == '\'')) {
                const unsigned char *q = memchr(s + j + 1, s[j], (size_t)(end - j - 1));
                j = q == NULL ? end : (Py_ssize_t)(q - s) + 1;
            } else {
                while (j < end && !is_ws(s[j]) && s[j] != '>')
                    j++;
            }
            i = j;
        }
    }
    return i;
}

/* ---------------------------------------------------------------- hits */
static int append_index(PyObject *list, Py_ssize_t i) {
    PyObject *v = PyLong_FromSsize_t(i);
    if (v == NULL)
        return -1;
    int r = PyList_Append(list, v);
    Py_DECREF(v);
    return r;
}

static int is_marker_delim(unsigned char c) { return is_ws(c) || c == '/' || c == '=' || c == '>'; }

static int is_opener_candidate(bytes_t s, Py_ssize_t n, Py_ssize_t i) {
    /* s[i] == '<' */
    if (i + 1 >= n)
        return 0;
    unsigned char c = s[i + 1];
    if (c == '!' || c == '?')
        return 1;
    const char *const *w;
    if (c == '/') {
        if (i + 2 >= n)
            return 0;
        if (!is_alpha(s[i + 2]))
            return 1;
        for (w = END_PREFIXES; *w != NULL; w++) {
            Py_ssize_t k = (Py_ssize_t)strlen(*w);
            if (i + 2 + k <= n && eq_nocase(s + i + 2, k, *w))
                return 1;
        }
        return 0;
    }
    for (w = START_PREFIXES; *w != NULL; w++) {
        Py_ssize_t k = (Py_ssize_t)strlen(*w);
        if (i + 1 + k <= n && eq_nocase(s + i + 1, k, *w))
            return 1;
    }
    return 0;
}

static PyObject *sp_hits(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 1 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "hits() takes one bytes argument");
        return NULL;
    }
    bytes_t s = (bytes_t)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    PyObject *markers = PyList_New(0);
    PyObject *candidates = PyList_New(0);
    if (markers == NULL || candidates == NULL)
        goto fail;
    Py_ssize_t i = 0;
    while (i + 5 <= n) {
        const unsigned char *d = memchr(s + i, 'd', (size_t)(n - i));
        if (d == NULL)
            break;
        i = (Py_ssize_t)(d - s);
        if (i + 10 <= n && memcmp(s + i, "data-slot", 9) == 0 && is_marker_delim(s[i + 9])) {
            if (append_index(markers, i) < 0)
                goto fail;
        } else if (i + 15 <= n && memcmp(s + i, "data-page-item", 14) == 0 && is_marker_delim(s[i + 14])) {
            if (append_index(markers, i) < 0)
                goto fail;
        }
        i++;
    }
    i = 0;
    while (i < n) {
        const unsigned char *lt = memchr(s + i, '<', (size_t)(n - i));
        if (lt == NULL)
            break;
        i = (Py_ssize_t)(lt - s);
        if (is_opener_candidate(s, n, i) && append_index(candidates, i) < 0)
            goto fail;
        i++;
    }
    return Py_BuildValue("(NN)", markers, candidates);
fail:
    Py_XDECREF(markers);
    Py_XDECREF(candidates);
    return NULL;
}

/* ----------------------------------------------------------- quoted_gt */
/* Count non-overlapping occurrences of pat (length k) in b[0:m], left to right, like bytes.count. */
static Py_ssize_t count_of(const unsigned char *b, Py_ssize_t m, const char *pat, Py_ssize_t k) {
    Py_ssize_t c = 0, i = 0;
    while (i + k <= m) {
        if (memcmp(b + i, pat, (size_t)k) == 0) {
            c++;
            i += k;
        } else {
            i++;
        }
    }
    return c;
}

/* Remove non-overlapping occurrences of the 3-byte pat, left to right, in place, like bytes.replace(pat, b""). */
static Py_ssize_t remove_all(unsigned char *b, Py_ssize_t m, const char *pat) {
    Py_ssize_t r = 0, w = 0;
    while (r < m) {
        if (r + 3 <= m && memcmp(b + r, pat, 3) == 0) {
            r += 3;
        } else {
            b[w++] = b[r++];
        }
    }
    return w;
}

static PyObject *sp_quoted_gt(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    bytes_t s;
    Py_ssize_t n, pos, end;
    if (parse_range(args, nargs, 3, "quoted_gt", &s, &n, &pos, &end) < 0)
        return NULL;
    if (pos >= end || memchr(s + pos, '=', (size_t)(end - pos)) == NULL)
        Py_RETURN_FALSE;
    unsigned char *b = PyMem_Malloc((size_t)(end - pos));
    if (b == NULL)
        return PyErr_NoMemory();
    Py_ssize_t m = 0;
    for (Py_ssize_t i = pos; i < end; i++) {
        unsigned char c = s[i];
        if (c == '=' || c == '"' || c == '\'' || c == '>')
            b[m++] = c;
    }
    int found = 0;
    int has_sq = count_of(b, m, "='", 2) > 0;
    if (count_of(b, m, "=\"", 2) != count_of(b, m, "=\"\"", 3) ||
        (has_sq && count_of(b, m, "='", 2) != count_of(b, m, "=''", 3))) {
        m = remove_all(b, m, "=\"\"");
        m = remove_all(b, m, "=''");
        /* _QUOTED_GT: =(?:"[^">]*+>|'[^'>]*+>) anywhere. */
        for (Py_ssize_t i = 0; i + 2 < m && !found; i++) {
            if (b[i] != '=' || (b[i + 1] != '"' && b[i + 1] != '\''))
                continue;
            unsigned char q = b[i + 1];
            Py_ssize_t j = i + 2;
            while (j < m && b[j] != q && b[j] != '>')
                j++;
            found = j < m && b[j] == '>';
        }
    }
    PyMem_Free(b);
    return PyBool_FromLong(found);
}

/* ------------------------------------------------------------ skip_end */
static PyObject *sp_skip_end(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    bytes_t s;
    Py_ssize_t n, i, stop;
    if (parse_range(args, nargs, 3, "skip_end", &s, &n, &i, &stop) < 0)
        return NULL;
    while (i < stop) {
        if (s[i] != '<') {
            const unsigned char *lt = memchr(s + i, '<', (size_t)(stop - i));
            if (lt == NULL) {
                i = stop;
                break;
            }
            i = (Py_ssize_t)(lt - s);
        }
        /* s[i] == '<' */
        if (i + 1 >= stop) {
            i++; /* '<' at the end: text */
            continue;
        }
        unsigned char c = s[i + 1];
        if (!(is_alpha(c) || c == '/' || c == '!' || c == '?')) {
            i++;
            continue;
        }
        if (c == '!' || c == '?')
            break;
        int is_end = c == '/';
        Py_ssize_t ns = i + 1 + is_end;
        if (ns >= stop || !is_alpha(s[ns]))
            break;
        Py_ssize_t ne = ns + 1;
        while (ne < stop && !is_name_end(s[ne]))
            ne++;
        if (ne < stop && in_words_nocase(s + ns, ne - ns, is_end ? INTERESTING_END : INTERESTING_START))
            break;
        Py_ssize_t a = attrs_end(s, ne, stop, 0);
        if (a >= stop)
            break;
        i = a + 1;
    }
    return PyLong_FromSsize_t(i);
}

/* ---------------------------------------------------------- frag_token */
/* '<' at i starts a token (not text): a letter, '!' or '?' follows, or '/' and a letter. */
static int starts_token(bytes_t s, Py_ssize_t i, Py_ssize_t limit) {
    if (i + 1 >= limit)
        return 0;
    unsigned char c = s[i + 1];
    if (is_alpha(c) || c == '!' || c == '?')
        return 1;
    return c == '/' && i + 2 < limit && is_alpha(s[i + 2]);
}

/* The first '<' at or after i that starts a token, else limit. */
static Py_ssize_t next_token(bytes_t s, Py_ssize_t i, Py_ssize_t limit) {
    while (i < limit) {
        const unsigned char *lt = memchr(s + i, '<', (size_t)(limit - i));
        if (lt == NULL)
            return limit;
        i = (Py_ssize_t)(lt - s);
        if (starts_token(s, i, limit))
            return i;
        i++;
    }
    return limit;
}

/* An inert unit at i (s[i] == '<', starts_token): where it ends, or -1 when it is not one. */
static Py_ssize_t inert_unit_end(bytes_t s, Py_ssize_t i, Py_ssize_t limit, int lax) {
    Py_ssize_t ns = i + 1;
    if (!is_alpha(s[ns]))
        return -1;
    Py_ssize_t ne = ns + 1;
    while (ne < limit && !is_name_end(s[ne]))
        ne++;
    if (ne >= limit)
        return -1;
    Py_ssize_t len = ne - ns;
    if (in_words(s + ns, len, lax ? VOID_LAX : VOID_STRICT)) {
        Py_ssize_t a = attrs_end(s, ne, limit, 1);
        return a < limit && s[a] == '>' ? a + 1 : -1;
    }
    if (!(s[ns] >= 'a' && s[ns] <= 'z'))
        return -1;
    for (Py_ssize_t k = ns + 1; k < ne; k++) {
        if (!is_lower_alnum(s[k]))
            return -1;
    }
    if (in_words(s + ns, len, CLOSERS) || (!lax && in_words(s + ns, len, P_CLOSERS)))
        return -1;
    Py_ssize_t a = attrs_end(s, ne, limit, 1);
    if (a >= limit || s[a] != '>') /* a data- attribute stops the attributes early */
        return -1;
    Py_ssize_t j = next_token(s, a + 1, limit);
    /* </name, then a name end, then attributes and '>' */
    if (j + 2 + len >= limit || s[j + 1] != '/' || memcmp(s + j + 2, s + ns, (size_t)len) != 0 ||
        !is_name_end(s[j + 2 + len]))
        return -1;
    Py_ssize_t a2 = attrs_end(s, j + 2 + len, limit, 0);
    return a2 < limit ? a2 + 1 : -1;
}

static PyObject *sp_frag_token(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    bytes_t s;
    Py_ssize_t n, i, limit;
    if (parse_range(args, nargs, 4, "frag_token", &s, &n, &i, &limit) < 0)
        return NULL;
    int lax = PyObject_IsTrue(args[3]);
    if (lax < 0)
        return NULL;
    for (;;) {
        i = next_token(s, i, limit);
        if (i >= limit)
            Py_RETURN_NONE;
        Py_ssize_t e = inert_unit_end(s, i, limit, lax);
        if (e < 0)
            break;
        i = e;
    }
    /* s[i] == '<' and starts_token */
    unsigned char c = s[i + 1];
    if (c == '!' || c == '?')
        return Py_BuildValue("(nnnnnn)", i, (Py_ssize_t)0, i + 2, i + 2, i + 2, i + 2);
    int is_end = c == '/';
    Py_ssize_t ns = i + 1 + is_end;
    Py_ssize_t ne = ns + 1;
    while (ne < limit && !is_name_end(s[ne]))
        ne++;
    Py_ssize_t ae = attrs_end(s, ne, limit, 0);
    Py_ssize_t end = ae < limit ? ae + 1 : ae;
    return Py_BuildValue("(nnnnnn)", i, (Py_ssize_t)(is_end ? 2 : 1), ns, ne, ae, end);
}

static PyMethodDef methods[] = {
    {"hits", (PyCFunction)(void (*)(void))sp_hits, METH_FASTCALL,
     "hits(html) -> (markers, candidates): marker offsets and opener candidates, as scanner._hits_py."},
    {"quoted_gt", (PyCFunction)(void (*)(void))sp_quoted_gt, METH_FASTCALL,
     "quoted_gt(html, pos, end) -> bool: as scanner._quoted_gt_py."},
    {"skip_end", (PyCFunction)(void (*)(void))sp_skip_end, METH_FASTCALL,
     "skip_end(html, pos, stop) -> int: as scanner._skip_end_py (_SKIP.match(html, pos, stop).end())."},
    {"frag_token", (PyCFunction)(void (*)(void))sp_frag_token, METH_FASTCALL,
     "frag_token(html, pos, limit, lax) -> (lt, kind, name_start, name_end, attrs_end, end) | None: "
     "as scanner._frag_token_py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef_Slot module_slots[] = {{0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "slots._speedups", "C twins of the slot scanner's hottest byte loops.", 0, methods,
    module_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModuleDef_Init(&module); }
