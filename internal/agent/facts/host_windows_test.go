package facts

import "testing"

func TestProductName(t *testing.T) {
	for _, tc := range []struct {
		product, build, sp, want string
	}{
		{"Windows 10 Pro", "22631", "", "Microsoft Windows 11 Pro"},
		{"Windows 10 Pro", "19045", "", "Microsoft Windows 10 Pro"},
		{"Windows Server 2022 Datacenter", "20348", "", "Microsoft Windows Server 2022 Datacenter"},
		{"Microsoft Windows XP", "2600", "Service Pack 3", "Microsoft Windows XP Service Pack 3"},
		{"Windows 7 Professional", "", "Service Pack 1", "Microsoft Windows 7 Professional Service Pack 1"},
	} {
		if got := productName(tc.product, tc.build, tc.sp); got != tc.want {
			t.Errorf("productName(%q, %q, %q) got %q, want %q", tc.product, tc.build, tc.sp, got, tc.want)
		}
	}
}

// samePlatformNames: the product names are read from the same registry
// values as gopsutil's.
func samePlatformNames(string) bool { return true }

func TestUsersNotSupported(t *testing.T) {
	if _, err := Users(t.Context()); err == nil {
		t.Errorf("Users got no error, want not supported")
	}
}
