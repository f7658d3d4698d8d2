package mapping

import (
	"fmt"
	"strings"
)

// roleKind is what a column of an export holds.
type roleKind int

const (
	roleFull roleKind = iota
	roleGiven
	roleMiddle
	roleFamily
	roleEmail
	rolePhone
	roleOrg
	roleTitle
)

// roleFields are the schema fields (found by name, column or alias) a role
// goes to, in preference order; email and phone also go to the schema's
// first field of that type.
var roleFields = map[roleKind][]string{
	roleFull:   {"name", "full name"},
	roleGiven:  {"first_name", "given name"},
	roleMiddle: {"middle_name"},
	roleFamily: {"last_name", "family name"},
	roleEmail:  {"email"},
	rolePhone:  {"phone", "mobile_number"},
	roleOrg:    {"company", "organization"},
	roleTitle:  {"job_title", "title"},
}

// role is a column's role in an export; rank orders several columns of one
// kind (the first non-empty wins).
type role struct {
	kind roleKind
	rank int
}

// export is a known export's header: what identifies it and its columns'
// roles, by exact header.
type export struct {
	name      string
	signature []string // every one of these headers is present
	roles     map[string]role
	// others are columns that look like a field's name and are not it
	// (Outlook's Title is Mr. or Ms.), with what they hold.
	others map[string]string
}

func (e *export) roleOf(header string) (role, bool) {
	r, ok := e.roles[strings.TrimSpace(header)]
	return r, ok
}

// numbered adds "<prefix>N<suffix>" columns, N from 1 to n, ranked from base.
func numbered(roles map[string]role, kind roleKind, format string, n, base int) {
	for i := 1; i <= n; i++ {
		roles[fmt.Sprintf(format, i)] = role{kind, base + i}
	}
}

// googleRoles adds to names the numbered email and phone columns both of
// Google Contacts' header sets have ("E-mail 1 - Value", "Phone 2 - Value").
func googleRoles(names map[string]role) map[string]role {
	numbered(names, roleEmail, "E-mail %d - Value", 9, 0)
	numbered(names, rolePhone, "Phone %d - Value", 9, 0)
	return names
}

// Documented orders (README, "Importing an export from another tool"): of
// several email columns the first by number; of several phone columns,
// mobile first, then work, then home, then any other.
var exports = []*export{
	{
		name:      "Google Contacts",
		signature: []string{"E-mail 1 - Label", "E-mail 1 - Value"},
		roles: googleRoles(map[string]role{
			"First Name": {roleGiven, 0}, "Middle Name": {roleMiddle, 0}, "Last Name": {roleFamily, 0},
			"Organization Name": {roleOrg, 0}, "Organization Title": {roleTitle, 0},
		}),
	},
	{
		name:      "Google Contacts (older export)",
		signature: []string{"Given Name", "Family Name", "E-mail 1 - Type"},
		roles: googleRoles(map[string]role{
			"Name": {roleFull, 0}, "Given Name": {roleGiven, 0}, "Additional Name": {roleMiddle, 0}, "Family Name": {roleFamily, 0},
			"Organization 1 - Name": {roleOrg, 0}, "Organization 1 - Title": {roleTitle, 0},
		}),
	},
	{
		name:      "Outlook",
		signature: []string{"E-mail Address", "Business Phone", "Mobile Phone"},
		roles: map[string]role{
			"First Name": {roleGiven, 0}, "Middle Name": {roleMiddle, 0}, "Last Name": {roleFamily, 0},
			"E-mail Address": {roleEmail, 1}, "E-mail 2 Address": {roleEmail, 2}, "E-mail 3 Address": {roleEmail, 3},
			"Mobile Phone": {rolePhone, 1}, "Business Phone": {rolePhone, 2}, "Business Phone 2": {rolePhone, 3},
			"Company Main Phone": {rolePhone, 4}, "Home Phone": {rolePhone, 5}, "Home Phone 2": {rolePhone, 6},
			"Primary Phone": {rolePhone, 7}, "Other Phone": {rolePhone, 8}, "Car Phone": {rolePhone, 9},
			"Company": {roleOrg, 0}, "Job Title": {roleTitle, 0},
		},
		others: map[string]string{"Title": "a courtesy title (Mr., Ms.)", "Suffix": "a name suffix"},
	},
	{
		name:      "HubSpot",
		signature: []string{"Record ID", "First Name", "Last Name"},
		roles: map[string]role{
			"First Name": {roleGiven, 0}, "Last Name": {roleFamily, 0}, "Email": {roleEmail, 1},
			"Mobile Phone Number": {rolePhone, 1}, "Phone Number": {rolePhone, 2},
			"Company Name": {roleOrg, 0}, "Job Title": {roleTitle, 0},
		},
	},
	{
		name:      "Salesforce (Data Loader)",
		signature: []string{"FirstName", "LastName"},
		roles: map[string]role{
			"Name": {roleFull, 0}, "FirstName": {roleGiven, 0}, "MiddleName": {roleMiddle, 0}, "LastName": {roleFamily, 0},
			"Email": {roleEmail, 1}, "MobilePhone": {rolePhone, 1}, "Phone": {rolePhone, 2}, "HomePhone": {rolePhone, 3}, "OtherPhone": {rolePhone, 4},
			"Account.Name": {roleOrg, 0}, "Title": {roleTitle, 0},
		},
		others: map[string]string{"Salutation": "a courtesy title (Mr., Ms.)"},
	},
	{
		name:      "Salesforce (report export)",
		signature: []string{"First Name", "Last Name", "Account Name"},
		roles: map[string]role{
			"First Name": {roleGiven, 0}, "Last Name": {roleFamily, 0}, "Email": {roleEmail, 1},
			"Mobile": {rolePhone, 1}, "Mobile Phone": {rolePhone, 1}, "Phone": {rolePhone, 2}, "Home Phone": {rolePhone, 3}, "Other Phone": {rolePhone, 4},
			"Account Name": {roleOrg, 0}, "Title": {roleTitle, 0},
		},
	},
	{
		name:      "Mailchimp",
		signature: []string{"Email Address", "MEMBER_RATING"},
		roles: map[string]role{
			"Email Address": {roleEmail, 1}, "First Name": {roleGiven, 0}, "Last Name": {roleFamily, 0},
			"Phone Number": {rolePhone, 1}, "Company": {roleOrg, 0},
		},
	},
	{
		name:      "LinkedIn Connections",
		signature: []string{"First Name", "Last Name", "Connected On"},
		roles: map[string]role{
			"First Name": {roleGiven, 0}, "Last Name": {roleFamily, 0}, "Email Address": {roleEmail, 1},
			"Company": {roleOrg, 0}, "Position": {roleTitle, 0},
		},
	},
}

// detect finds the known export whose signature the header carries.
func detect(header []string) *export {
	have := map[string]bool{}
	for _, h := range header {
		have[strings.TrimSpace(h)] = true
	}
	for _, e := range exports {
		all := true
		for _, s := range e.signature {
			all = all && have[s]
		}
		if all {
			return e
		}
	}
	return nil
}

// KnownExports names the exports Decide recognises, for the docs and the API.
func KnownExports() []string {
	out := make([]string, len(exports))
	for i, e := range exports {
		out[i] = e.name
	}
	return out
}
