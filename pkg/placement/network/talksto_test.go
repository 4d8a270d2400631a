package network

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseTalksTo(t *testing.T) {
	tests := []struct {
		name    string
		value   string
		want    []Term
		wantErr string
	}{
		{name: "empty", value: "", want: nil},
		{name: "blank", value: "  ", want: nil},
		{name: "one term", value: "app=db", want: []Term{{Key: "app", Value: "db", Weight: 1}}},
		{name: "weights and spaces", value: " app=db, app=cache:5 ,tier=edge:1000",
			want: []Term{{"app", "db", 1}, {"app", "cache", 5}, {"tier", "edge", 1000}}},
		{name: "prefixed key", value: "app.kubernetes.io/name=db:3", want: []Term{{"app.kubernetes.io/name", "db", 3}}},
		{name: "same key, other values", value: "app=db,app=cache", want: []Term{{"app", "db", 1}, {"app", "cache", 1}}},

		{name: "trailing comma", value: "app=db,",
			wantErr: `annotation berth.io/talks-to: term 2 is empty (a comma too many?)`},
		{name: "double comma", value: "app=db,,app=cache",
			wantErr: `annotation berth.io/talks-to: term 2 is empty (a comma too many?)`},
		{name: "no equals", value: "app=db,cache",
			wantErr: `annotation berth.io/talks-to: term 2 "cache": want key=value or key=value:weight`},
		{name: "no equals with weight", value: "db:5",
			wantErr: `annotation berth.io/talks-to: term 1 "db:5": want key=value or key=value:weight`},
		{name: "empty key", value: "=db",
			wantErr: `annotation berth.io/talks-to: term 1 "=db": label key "": name part must be non-empty; name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
		{name: "bad key", value: "-app=db",
			wantErr: `annotation berth.io/talks-to: term 1 "-app=db": label key "-app": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`},
		{name: "empty value", value: "app=",
			wantErr: `annotation berth.io/talks-to: term 1 "app=": label value is empty`},
		{name: "bad value", value: "app=d b",
			wantErr: `annotation berth.io/talks-to: term 1 "app=d b": label value "d b": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`},
		{name: "two colons", value: "app=db:5:6",
			wantErr: `annotation berth.io/talks-to: term 1 "app=db:5:6": label value "db:5": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`},
		{name: "weight not a number", value: "app=db,app=cache:x",
			wantErr: `annotation berth.io/talks-to: term 2 "app=cache:x": weight "x" is not a whole number from 1 to 1000`},
		{name: "weight missing", value: "app=db:",
			wantErr: `annotation berth.io/talks-to: term 1 "app=db:": weight "" is not a whole number from 1 to 1000`},
		{name: "weight zero", value: "app=db:0",
			wantErr: `annotation berth.io/talks-to: term 1 "app=db:0": weight "0" is not a whole number from 1 to 1000`},
		{name: "weight negative", value: "app=db:-2",
			wantErr: `annotation berth.io/talks-to: term 1 "app=db:-2": weight "-2" is not a whole number from 1 to 1000`},
		{name: "weight too large", value: "app=db:1001",
			wantErr: `annotation berth.io/talks-to: term 1 "app=db:1001": weight "1001" is not a whole number from 1 to 1000`},
		{name: "weight fractional", value: "app=db:1.5",
			wantErr: `annotation berth.io/talks-to: term 1 "app=db:1.5": weight "1.5" is not a whole number from 1 to 1000`},
		{name: "repeated", value: "app=db,app=cache,app=db:3",
			wantErr: `annotation berth.io/talks-to: term 3 "app=db:3": repeats term 1 (give one term a weight instead)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTalksTo(tt.value)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v\nwant %s", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("terms %v returned with an error: a bad annotation must not be half applied", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("terms (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTerm(t *testing.T) {
	term := Term{Key: "app", Value: "db", Weight: 2}
	if term.String() != "app=db" {
		t.Errorf("String = %q", term.String())
	}
	if !term.Matches(map[string]string{"app": "db", "x": "y"}) || term.Matches(map[string]string{"app": "cache"}) || term.Matches(nil) {
		t.Error("Matches is wrong")
	}
}
