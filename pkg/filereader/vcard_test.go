package filereader

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestVCard(t *testing.T) {
	in := strings.Join([]string{
		// vCard 3, as Apple Contacts writes it: folded lines, groups, escapes.
		"BEGIN:VCARD",
		"VERSION:3.0",
		"N:Lovelace;Ada;King;Lady;",
		"FN:Ada Lovelace",
		"ORG:Analytical Engines;Research;Notes",
		"TITLE:Countess",
		"item1.EMAIL;type=INTERNET;type=HOME:ada@home.example",
		"EMAIL;TYPE=INTERNET,WORK,pref:ada@work.exam",
		" ple",
		"EMAIL:ada@third.example",
		"TEL;TYPE=CELL:+44 20 7946 0001",
		"TEL;TYPE=WORK,VOICE:+44 20 7946 0002",
		"ADR;TYPE=HOME:;Flat 2;12 St James\\, Square;London;;SW1Y 4JH;United Kingdom",
		"NOTE:First line\\nsecond\\; with a semicolon",
		"BDAY:1815-12-10",
		"PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQSkZJRgABAQ",
		"END:VCARD",
		"",
		// vCard 2.1 as phones export it: bare parameters, quoted-printable with
		// a soft line break, Latin-1.
		"BEGIN:VCARD",
		"VERSION:2.1",
		"N;CHARSET=ISO-8859-1;ENCODING=QUOTED-PRINTABLE:M=FCller;J=FCrgen;;;",
		"TEL;CELL;PREF:+49 30 1234567",
		"TEL;HOME:+49 30 7654321",
		"NOTE;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Gr=C3=BC=C3=9Fe aus =",
		"K=C3=B6ln",
		"END:VCARD",
		// vCard 4: PREF parameter, tel: URI, no FN.
		"BEGIN:VCARD",
		"VERSION:4.0",
		"N:Doe;Jane;;Dr.;",
		"EMAIL;PREF=2:jane@second.example",
		"EMAIL;PREF=1:jane@first.example",
		"TEL;VALUE=uri;TYPE=\"voice,cell\":tel:+1-415-555-0123",
		"END:VCARD",
		"BEGIN:VCARD",
		"VERSION:3.0",
		"FN:Unfinished",
		"BEGIN:VCARD",
		"FN:After",
		"END:VCARD",
		"BEGIN:VCARD",
		"FN:Cut off",
	}, "\r\n")
	header, rows := readText(t, in, Options{})
	if !reflect.DeepEqual(header, vcardHeader) {
		t.Fatalf("header %q", header)
	}
	if numbers := rowNumbers(rows); !reflect.DeepEqual(numbers, []int{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("card numbers %v", numbers)
	}
	want := []map[string]string{{
		"name": "Ada Lovelace", "family name": "Lovelace", "given name": "Ada", "additional names": "King", "name prefix": "Lady",
		"email": "ada@work.example", "other emails": "ada@home.example ::: ada@third.example",
		"phone": "+44 20 7946 0001", "phone type": "cell", "other phones": "+44 20 7946 0002",
		"company": "Analytical Engines", "department": "Research / Notes", "title": "Countess",
		"address": "12 St James, Square, Flat 2, London, SW1Y 4JH, United Kingdom", "address.street": "12 St James, Square, Flat 2",
		"address.city": "London", "address.postal_code": "SW1Y 4JH", "address.country": "United Kingdom", "address.type": "home",
		"note": "First line\nsecond; with a semicolon", "birthday": "1815-12-10",
	}, {
		"name": "Jürgen Müller", "family name": "Müller", "given name": "Jürgen",
		"phone": "+49 30 1234567", "phone type": "cell", "other phones": "+49 30 7654321",
		"note": "Grüße aus Köln",
	}, {
		"name": "Dr. Jane Doe", "family name": "Doe", "given name": "Jane", "name prefix": "Dr.",
		"email": "jane@first.example", "other emails": "jane@second.example",
		"phone": "+1-415-555-0123", "phone type": "voice,cell",
	}}
	for i, w := range want {
		if rows[i].Err != nil {
			t.Fatalf("card %d: %v", i+1, rows[i].Err)
		}
		if got := cellsByName(header, rows[i]); !reflect.DeepEqual(got, w) {
			t.Errorf("card %d:\n got %q\nwant %q", i+1, got, w)
		}
	}
	if rows[3].Err == nil || !strings.Contains(rows[3].Err.Error(), "END:VCARD is missing") {
		t.Fatalf("card 4: %+v", rows[3])
	}
	if rows[4].Err != nil || rows[4].Cells[0] != "After" {
		t.Fatalf("card 5: %+v", rows[4])
	}
	if rows[5].Err == nil || !strings.Contains(rows[5].Err.Error(), "file ends inside the card") {
		t.Fatalf("card 6: %+v", rows[5])
	}
}

func TestVCardBounds(t *testing.T) {
	// A card over the row bound fails alone, however it is made: one long
	// folded line or many empty properties.
	long := "BEGIN:VCARD\nNOTE:" + strings.Repeat("x\n ", 10000) + "\nEND:VCARD\n"
	many := "BEGIN:VCARD\n" + strings.Repeat("EMAIL:\n", 10000) + "END:VCARD\n"
	for name, in := range map[string]string{"long line": long, "many properties": many} {
		_, rows := readText(t, in+"BEGIN:VCARD\nFN:Next\nEND:VCARD\n", Options{MaxRowBytes: 4 << 10, MaxCellBytes: 1 << 10})
		if len(rows) != 2 || !errors.Is(rows[0].Err, ErrTooLarge) || rows[1].Err != nil || rows[1].Number != 2 {
			t.Errorf("%s: %+v", name, rows)
		}
	}
	// Text between cards is skipped; a file of cards without values is empty rows.
	_, rows := readText(t, "BEGIN:VCARD\nVERSION:3.0\nEND:VCARD\nnoise\nBEGIN:VCARD\nFN:B\nEND:VCARD\n", Options{})
	if len(rows) != 1 || rows[0].Number != 2 {
		t.Fatalf("rows %+v", rows)
	}
}
