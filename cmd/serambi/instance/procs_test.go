package instance

import "testing"

func TestSchedulerProcs(t *testing.T) {
	tests := []struct {
		name            string
		current         int
		explicit, mongo bool
		want            int
	}{
		{"SQLite gets twice the CPUs", 2, false, false, 4},
		{"one CPU still gets two", 1, false, false, 2},
		{"an explicit GOMAXPROCS wins", 2, true, false, 2},
		{"MongoDB keeps the runtime's choice", 8, false, true, 8},
		{"a nonsense value is not doubled", 0, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SchedulerProcs(tt.current, tt.explicit, tt.mongo); got != tt.want {
				t.Errorf("SchedulerProcs(%d, %v, %v) = %d, want %d", tt.current, tt.explicit, tt.mongo, got, tt.want)
			}
		})
	}
}
