# Turns the status page into a C++ header at build time, so g-actor serves it without files beside the binary.
file(READ "${IN}" content)
file(WRITE "${OUT}" "#pragma once\n// Generated from actors/status_page/index.html: edit that file.\ninline constexpr const char* status_page_html = R\"gpage(${content})gpage\";\n")
