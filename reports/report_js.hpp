// report.js: the one script of a report folder (attention viewer, token-table search, SVG export, self-test).
#pragma once

namespace circuits::reports {

// The text of report.js, written once at the report's root and loaded by every page with
// <script src>. It reads the page's own data (<script type="application/json">) and needs no network.
// Modes selected by the page's URL fragment: "#selftest" drives the viewers with focus events and
// writes what they highlight into <pre id="selftest">; "#figure=ID" shows only figure ID (for PNG
// export through headless Chromium).
const char* report_js();

}  // namespace circuits::reports
