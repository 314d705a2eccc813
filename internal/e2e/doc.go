// Package e2e holds end-to-end tests that build the real steward and
// steward-agent binaries and run them as processes talking over real
// sockets, against SQLite and (when STEWARD_TEST_DATABASE_URL is set)
// PostgreSQL, and drive the dashboard in headless Chromium.
package e2e
