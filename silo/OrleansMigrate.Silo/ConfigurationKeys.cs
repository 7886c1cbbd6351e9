using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace OrleansMigrate.Silo;

/// <summary>Names configuration keys that bind to nothing by their full path (<c>Omig:Tls:Bogus</c>), where the
/// binder's own message names only the last segment and a .NET type.</summary>
internal static class ConfigurationKeys
{
    /// <summary>Every key under <paramref name="section"/> that is not a property path of <paramref name="type"/>.</summary>
    public static List<string> Unknown(IConfigurationSection section, Type type)
    {
        var unknown = new List<string>();
        Walk(section, type, unknown);
        return unknown;
    }

    /// <summary>The settable property names of <paramref name="type"/>, for the "known:" part of a message.</summary>
    public static IEnumerable<string> Known(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite || !IsScalar(p.PropertyType)).Select(p => p.Name);

    private static void Walk(IConfigurationSection section, Type type, List<string> unknown)
    {
        foreach (var child in section.GetChildren())
        {
            if (ElementType(type) is { } element)
            {
                // A dictionary takes any key, a list an index; either way the child binds to the element type.
                if (!IsScalar(element))
                {
                    Walk(child, element, unknown);
                }

                continue;
            }

            var property = type.GetProperty(child.Key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
            if (property is null || (!property.CanWrite && IsScalar(property.PropertyType)))
            {
                unknown.Add(child.Path);
            }
            else if (!IsScalar(property.PropertyType))
            {
                Walk(child, property.PropertyType, unknown);
            }
        }
    }

    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        if (type == typeof(string) || !typeof(IEnumerable).IsAssignableFrom(type))
        {
            return null;
        }

        var dictionary = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dictionary is not null)
        {
            return dictionary.GetGenericArguments()[1];
        }

        var enumerable = type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>));
        return enumerable?.GetGenericArguments()[0] ?? typeof(object);
    }

    private static bool IsScalar(Type type)
    {
        var t = Nullable.GetUnderlyingType(type) ?? type;
        return t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(DateTime)
            || t == typeof(DateTimeOffset) || t == typeof(Uri) || t == typeof(Guid) || t == typeof(object);
    }
}
