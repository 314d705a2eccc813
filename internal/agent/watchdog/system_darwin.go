package watchdog

// SystemServices returns the ServiceManager for the watched services on
// macOS: processes by name (launchd labels are not what an administrator
// names a service by).
func SystemServices() ServiceManager { return processes{} }
