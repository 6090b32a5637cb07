package mongotest_test

import "go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

func connstringDB(uri string) (string, error) {
	cs, err := connstring.ParseAndValidate(uri)
	return cs.Database, err
}
