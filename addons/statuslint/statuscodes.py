"""The IANA HTTP Status Code Registry, as of RFC 9110 and its successors.

Source: https://www.iana.org/assignments/http-status-codes (codes marked "Unassigned"
are absent). 418 is listed as reserved ("Unused") by RFC 9110 §15.5.19 and counts here.
"""

REGISTERED: frozenset[int] = frozenset(
    {
        *(100, 101, 102, 103, 104),
        *(200, 201, 202, 203, 204, 205, 206, 207, 208, 226),
        *(300, 301, 302, 303, 304, 305, 306, 307, 308),
        *range(400, 419),
        *(421, 422, 423, 424, 425, 426, 428, 429, 431, 451),
        *(500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511),
    }
)
